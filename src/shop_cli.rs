//! `bazaar status` and `bazaar restart`: the shop running on a data directory, through
//! its supervisor's control API (whose address and token `bazaar up` writes to
//! `<data>/supervisor.json`).

use crate::{
    REGISTRY,
    control::Processes,
    processes::ProcessView,
    supervisor::{OnDataDir, Running},
};
use anyhow::{Context, bail};
use clap::Args;
use std::{path::PathBuf, time::Duration};

/// Options of `bazaar status`.
#[derive(Args, Debug)]
pub struct StatusArgs {
    /// The running shop's data directory.
    #[arg(long, env = "BAZAAR_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Options of `bazaar restart`.
#[derive(Args, Debug)]
pub struct RestartArgs {
    /// The service to restart, replica by replica.
    #[arg(value_parser = clap::builder::PossibleValuesParser::new(REGISTRY.names()))]
    pub service: String,
    /// The running shop's data directory.
    #[arg(long, env = "BAZAAR_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,
}

/// The shop running on `data_dir`, or why there is none.
fn running(data_dir: &std::path::Path) -> anyhow::Result<Running> {
    if !data_dir.is_dir() {
        bail!(
            "no shop runs on {} (no such directory): start one with `bazaar up --data-dir {}`",
            data_dir.display(),
            data_dir.display()
        );
    }
    match crate::supervisor::on_data_dir(data_dir)? {
        OnDataDir::Running(running) => Ok(running),
        OnDataDir::Starting => bail!(
            "the shop on {} is starting; ask again once it is ready",
            data_dir.display()
        ),
        OnDataDir::Stopping => bail!(
            "the shop on {} lost its supervisor and its services are stopping; start it again \
             with `bazaar up --data-dir {}`",
            data_dir.display(),
            data_dir.display()
        ),
        OnDataDir::Nothing => bail!(
            "no shop runs on {}: start one with `bazaar up --data-dir {}`",
            data_dir.display(),
            data_dir.display()
        ),
    }
}

/// `bazaar status`.
pub async fn status(args: StatusArgs) -> anyhow::Result<()> {
    let running = running(&args.data_dir)?;
    let ask = platform::client::client()
        .get(format!("{}/processes", running.control_url))
        .bearer_auth(&running.token)
        .send();
    let res = from_supervisor(&running, WhenStopped::GiveUp, ask).await?;
    if !res.status().is_success() {
        bail!("the supervisor answered {}", res.status());
    }
    let list: Processes = res.json().await?;
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&list.processes)?);
    } else {
        outln!("shop {} (supervisor pid {})", running.url, running.pid);
        outln!("{}", table(&list.processes).trim_end());
    }
    Ok(())
}

/// `bazaar restart SERVICE`.
pub async fn restart(args: RestartArgs) -> anyhow::Result<()> {
    let running = running(&args.data_dir)?;
    errln!("restarting {} replica by replica…", args.service);
    // No deadline of its own (a day is none): the supervisor bounds each replica's wait
    // (a successor that says why it is not ready may take 10 minutes), and its answer says
    // why it gave up. A client deadline of the same 10 minutes ran out first, blaming a
    // supervisor that was answering (the outage review). A supervisor that exits or is
    // stopped is seen by `from_supervisor`.
    let send = platform::client::builder()
        .timeout(Duration::from_secs(24 * 3600))
        .build()?
        .post(format!(
            "{}/services/{}/restart",
            running.control_url, args.service
        ))
        .bearer_auth(&running.token)
        .send();
    let service = args.service.clone();
    let ask = async move {
        tokio::pin!(send);
        let started = tokio::time::Instant::now();
        let mut told = tokio::time::interval_at(started + STILL_RESTARTING, STILL_RESTARTING);
        loop {
            tokio::select! {
                answer = &mut send => return answer,
                _ = told.tick() => errln!(
                    "still restarting {service} ({} s); the shop's log says what it waits for",
                    started.elapsed().as_secs()
                ),
            }
        }
    };
    let res = from_supervisor(&running, WhenStopped::Wait, ask).await?;
    let status = res.status();
    let body: serde_json::Value = res.json().await.unwrap_or_default();
    if !status.is_success() {
        bail!(
            "the restart failed ({status}): {}",
            body["detail"].as_str().unwrap_or("no reason given")
        );
    }
    let list: Processes = serde_json::from_value(body)?;
    outln!("{}", table(&list.processes).trim_end());
    Ok(())
}

/// How often a restart that is taking long says it is still under way.
const STILL_RESTARTING: Duration = Duration::from_secs(30);

/// What a command does while the supervisor it asked is stopped (`SIGSTOP`, a debugger).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WhenStopped {
    /// Fail at once, saying so: a question (`status`) is not worth waiting for.
    GiveUp,
    /// Say so once and keep waiting: a restart under way goes on once it is continued.
    Wait,
}

/// How often a command waiting on the supervisor looks at its process.
const WATCH_EVERY: Duration = Duration::from_millis(500);

/// The supervisor's answer to `ask`, or a plain reason why none comes: the supervisor is
/// stopped (a stopped process's socket still takes the connection, and the command would
/// wait silently for its whole timeout) or has exited.
async fn from_supervisor<T>(
    running: &Running,
    when_stopped: WhenStopped,
    ask: impl std::future::Future<Output = reqwest::Result<T>>,
) -> anyhow::Result<T> {
    let stopped = || {
        format!(
            "the shop's supervisor (pid {pid}) is stopped and answers nothing until it is \
             continued (`kill -CONT {pid}`)",
            pid = running.pid
        )
    };
    tokio::pin!(ask);
    let mut watch = tokio::time::interval(WATCH_EVERY);
    let mut told = false;
    loop {
        tokio::select! {
            answer = &mut ask => {
                return answer.with_context(|| {
                    format!("the supervisor at {} does not answer", running.control_url)
                });
            }
            _ = watch.tick() => {
                if !running.supervisor_lives() {
                    bail!(
                        "the shop's supervisor (pid {}) exited before it answered",
                        running.pid
                    );
                }
                if running.supervisor_stopped() {
                    match when_stopped {
                        WhenStopped::GiveUp => bail!("{}", stopped()),
                        WhenStopped::Wait if !told => {
                            errln!("{}; waiting", stopped());
                            told = true;
                        }
                        WhenStopped::Wait => {}
                    }
                }
            }
        }
    }
}

/// The processes as an aligned table.
fn table(processes: &[ProcessView]) -> String {
    let mut out = format!(
        "{:<16} {:>7} {:>8} {:>6}  {:<10} {:>8}  {:<8}\n",
        "SERVICE", "REPLICA", "PID", "PORT", "STATE", "RESTARTS", "CPUS"
    );
    for p in processes {
        let pid = p.pid.map_or_else(|| "-".to_owned(), |p| p.to_string());
        let cpus = p.cpus.as_deref().unwrap_or("-");
        let state = serde_json::to_value(p.state)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        out.push_str(&format!(
            "{:<16} {:>7} {:>8} {:>6}  {:<10} {:>8}  {:<8}\n",
            p.service, p.replica, pid, p.port, state, p.restarts, cpus
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::processes::State;

    #[test]
    fn the_table_lines_up_one_row_a_replica() {
        let row = |service: &str, replica, pid| ProcessView {
            service: service.into(),
            replica,
            pid,
            port: 8082,
            state: if pid.is_some() {
                State::Ready
            } else {
                State::Restarting
            },
            restarts: 1,
            started_at: None,
            last_exit: None,
            cpus: pid.map(|_| "1".to_owned()),
        };
        let t = table(&[row("catalog", 1, Some(42)), row("catalog", 2, None)]);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].trim_end().ends_with("CPUS"), "{t}");
        assert!(
            lines[1].contains("catalog") && lines[1].contains("ready") && lines[1].contains("42")
        );
        assert_eq!(lines[1].split_whitespace().last(), Some("1"), "{t}");
        assert!(lines[2].contains("restarting") && lines[2].contains(" - "));
        assert_eq!(lines[2].split_whitespace().last(), Some("-"), "{t}");
        assert!(lines.iter().all(|l| l.len() == lines[0].len()), "{t}");
    }

    /// A `Running` for a child process of the test's own, and the child.
    fn running_as_child() -> (Running, std::process::Child) {
        let child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("sleep runs");
        let running = Running {
            pid: child.id(),
            url: "http://127.0.0.1:1".into(),
            control_url: "http://127.0.0.1:1".into(),
            token: String::new(),
            data_dir: None,
        };
        (running, child)
    }

    fn signal(child: &std::process::Child, signal: nix::sys::signal::Signal) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), signal)
            .expect("signal sent");
    }

    #[tokio::test]
    async fn a_stopped_supervisor_is_named_instead_of_waited_on_silently() {
        use nix::sys::signal::Signal;
        let (running, mut child) = running_as_child();
        signal(&child, Signal::SIGSTOP);
        // `status` gives up at once, naming the way out.
        let never = std::future::pending::<reqwest::Result<()>>();
        let err = tokio::time::timeout(
            Duration::from_secs(5),
            from_supervisor(&running, WhenStopped::GiveUp, never),
        )
        .await
        .expect("it does not wait")
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("is stopped") && err.contains(&format!("kill -CONT {}", child.id())),
            "{err}"
        );
        // A restart waits on, and takes the answer that comes once it is continued.
        let later = async {
            tokio::time::sleep(3 * WATCH_EVERY).await;
            Ok::<_, reqwest::Error>(7)
        };
        let answer = from_supervisor(&running, WhenStopped::Wait, later).await;
        assert_eq!(answer.unwrap(), 7);
        // One that dies while it is asked ends the wait.
        signal(&child, Signal::SIGKILL);
        child.wait().expect("reaped");
        let never = std::future::pending::<reqwest::Result<()>>();
        let err = tokio::time::timeout(
            Duration::from_secs(5),
            from_supervisor(&running, WhenStopped::Wait, never),
        )
        .await
        .expect("it does not wait")
        .unwrap_err()
        .to_string();
        assert!(err.contains("exited before it answered"), "{err}");
    }

    #[tokio::test]
    async fn a_running_supervisors_answer_is_taken_as_it_comes() {
        let (running, mut child) = running_as_child();
        let answer = from_supervisor(&running, WhenStopped::GiveUp, async {
            Ok::<_, reqwest::Error>("processes")
        })
        .await;
        assert_eq!(answer.unwrap(), "processes");
        child.kill().expect("killed");
        child.wait().expect("reaped");
    }

    #[test]
    fn without_a_shop_the_commands_say_so() {
        let dir = std::env::temp_dir().join(format!("bazaar-nothing-{}", uuid::Uuid::new_v4()));
        let err = running(&dir).unwrap_err().to_string();
        assert!(err.contains("no shop runs on"), "{err}");
    }
}
