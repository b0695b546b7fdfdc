//! A read model's replicas each keep their own copy, dead letters included, and an
//! administrator's request reaches any one of them through the gateway: each replica
//! answers for its peers' letters too.

use crate::helpers::temp_dir;
use platform::db::Db;
use reqwest::StatusCode;
use serde_json::Value;

/// A port nobody listens on now, for a replica to take.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

#[tokio::test]
async fn a_read_models_replicas_answer_for_each_others_dead_letters() {
    platform::telemetry::init_for_tests();
    let identity = identity::testing::shared();
    let ports = [free_port(), free_port()];
    let urls: Vec<String> = ports
        .iter()
        .map(|p| format!("http://127.0.0.1:{p}"))
        .collect();
    let all = urls.join(",");
    let mut running = Vec::new();
    for (i, port) in ports.iter().enumerate() {
        let dir = temp_dir(&format!("replica-{i}"));
        let database_url = format!("sqlite://{}/search.db", dir.display());
        let listen = format!("127.0.0.1:{port}");
        let more = [
            ("listen", listen.as_str()),
            ("search_url", all.as_str()),
            ("catalog_url", "http://127.0.0.1:9"),
        ];
        running.push(identity.spawn(&search::SERVICE, &database_url, &more).await);
        // A letter in this replica's copy only.
        let db = Db::connect(&database_url, &search::store::migrations())
            .await
            .unwrap();
        sqlx::query(
            "INSERT INTO dead_letters (id, payload, error, attempts, dead_at) \
             VALUES ($1, 'not an event', 'not a CloudEvent', 1, $2)",
        )
        .bind(format!("letter-{i}"))
        .bind(format!("2026-12-06T00:00:0{i}.000Z"))
        .execute(db.pool())
        .await
        .unwrap();
        db.close().await;
    }
    let http = reqwest::Client::new();
    let admin = &identity.admin_token;
    // `method` on a replica's dead letters (`rest` after their path), as the admin: the
    // answer's status, and its body's letter ids if it lists any.
    let ask = async |method: reqwest::Method, replica: &str, rest: &str| {
        let res = http
            .request(
                method,
                format!("{replica}/api/search/events/dead-letters{rest}"),
            )
            .bearer_auth(admin)
            .send()
            .await
            .unwrap();
        let status = res.status();
        let body: Value = res.json().await.unwrap_or(Value::Null);
        let ids: Vec<String> = body["items"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|l| l["id"].as_str().unwrap().to_owned())
            .collect();
        (status, ids)
    };
    let listed = |status_ids: (StatusCode, Vec<String>)| {
        assert_eq!(status_ids.0, StatusCode::OK);
        status_ids.1
    };
    use reqwest::Method;

    // Either replica lists both letters, oldest first; asked for its own, its own only.
    for replica in &urls {
        let all = listed(ask(Method::GET, replica, "").await);
        assert_eq!(all, ["letter-0", "letter-1"]);
    }
    let own = listed(ask(Method::GET, &urls[0], "?replica=this").await);
    assert_eq!(own, ["letter-0"]);
    let (bad, _) = ask(Method::GET, &urls[0], "?replica=all").await;
    assert_eq!(bad, StatusCode::UNPROCESSABLE_ENTITY);

    // A replay or a discard sent to the replica without the letter is done by the one
    // with it.
    let (replayed, _) = ask(Method::POST, &urls[0], "/letter-1/replay").await;
    assert_eq!(replayed, StatusCode::OK);
    let (discarded, _) = ask(Method::DELETE, &urls[1], "/letter-0").await;
    assert_eq!(discarded, StatusCode::NO_CONTENT);
    let left = listed(ask(Method::GET, &urls[1], "").await);
    assert!(left.iter().all(|id| id != "letter-0"), "{left:?}");
    let (again, _) = ask(Method::DELETE, &urls[1], "/letter-0").await;
    assert_eq!(again, StatusCode::NOT_FOUND, "closed for good");
    drop(running);
}

#[tokio::test]
async fn a_list_past_its_500_says_more_are_open() {
    platform::telemetry::init_for_tests();
    let identity = identity::testing::shared();
    let port = free_port();
    let dir = temp_dir("many-letters");
    let database_url = format!("sqlite://{}/search.db", dir.display());
    let (listen, url) = (
        format!("127.0.0.1:{port}"),
        format!("http://127.0.0.1:{port}"),
    );
    let more = [
        ("listen", listen.as_str()),
        ("search_url", url.as_str()),
        ("catalog_url", "http://127.0.0.1:9"),
    ];
    let _running = identity.spawn(&search::SERVICE, &database_url, &more).await;
    let db = Db::connect(&database_url, &search::store::migrations())
        .await
        .unwrap();
    let list = async || -> Value {
        let res = reqwest::Client::new()
            .get(format!("{url}/api/search/events/dead-letters"))
            .bearer_auth(&identity.admin_token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        res.json().await.unwrap()
    };
    for n in 0..501 {
        if n == 500 {
            let listed = list().await;
            assert_eq!(listed["items"].as_array().unwrap().len(), 500);
            assert_eq!(listed["more"], false, "exactly 500: all of them");
        }
        sqlx::query(
            "INSERT INTO dead_letters (id, payload, error, attempts, dead_at) \
             VALUES ($1, 'not an event', 'not a CloudEvent', 1, '2026-12-06T00:00:00.000Z')",
        )
        .bind(format!("letter-{n:03}"))
        .execute(db.pool())
        .await
        .unwrap();
    }
    let listed = list().await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 500);
    assert_eq!(listed["more"], true, "501 open, 500 listed");
    db.close().await;
}
