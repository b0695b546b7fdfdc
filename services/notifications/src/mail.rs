//! Email: a worker that mails each message the handler marked `pending` through the
//! configured SMTP server, retrying with backoff, and records the outcome on the message.
//! A failure here never touches event handling: the message is in the mailbox already.

use crate::{
    config::{Config, SmtpServer},
    handler::EmailMode,
    store::{DueEmail, Store},
};
use events::{envelope::to_rfc3339, now_rfc3339};
use lettre::{
    AsyncSmtpTransport, AsyncTransport, Message as Email, Tokio1Executor,
    message::{Mailbox, header::ContentType},
};
use platform::{Kit, shutdown::Shutdown};
use std::time::Duration;
use tracing::Instrument;

/// Tries per email, the first included.
pub const MAX_ATTEMPTS: i64 = 5;
/// How often the worker looks for due emails.
const POLL: Duration = Duration::from_millis(250);
/// Emails taken per look.
const BATCH: i64 = 20;
/// The longest one SMTP conversation may take.
const SMTP_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a claimed email is this worker's: past it, another worker (or this one after
/// a restart) may send it again. Longer than any conversation, and no longer: an email
/// a killed worker claimed waits that long.
const LEASE: Duration = SMTP_TIMEOUT.saturating_add(Duration::from_secs(5));

/// Sends emails through one SMTP server.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

/// Why an email was not sent.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// The server refused for good (5xx), or the email cannot be built: no retry.
    #[error("{0}")]
    Permanent(String),
    /// Worth another try: the server is down, busy, or said 4xx.
    #[error("{0}")]
    Transient(String),
}

impl Mailer {
    /// A mailer for plain SMTP to `server`, sending as `from`.
    pub fn new(server: &SmtpServer, from: Mailbox) -> Self {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&server.host)
            .port(server.port)
            .timeout(Some(SMTP_TIMEOUT))
            .build();
        Self { transport, from }
    }

    /// Sends one message (as `text/plain`, its Message-ID derived from the message id,
    /// so a receiver can tell a resend from a new message).
    pub async fn send(
        &self,
        message_id: &str,
        to: &str,
        subject: &str,
        body: &str,
    ) -> Result<(), MailError> {
        let to: Mailbox = to
            .parse()
            .map_err(|e| MailError::Permanent(format!("the recipient is unusable: {e}")))?;
        let email = Email::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .message_id(Some(format!("<{message_id}@notifications.bazaar>")))
            .header(ContentType::TEXT_PLAIN)
            .body(body.to_owned())
            .map_err(|e| MailError::Permanent(format!("the email cannot be built: {e}")))?;
        match self.transport.send(email).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_permanent() => Err(MailError::Permanent(e.to_string())),
            Err(e) => Err(MailError::Transient(e.to_string())),
        }
    }
}

/// The wait after the `attempts`th failed try: `base`, doubling each time.
pub fn retry_delay(base: Duration, attempts: i64) -> Duration {
    let doublings = u32::try_from(attempts.saturating_sub(1))
        .unwrap_or(u32::MAX)
        .min(16);
    base.saturating_mul(1 << doublings)
}

/// Starts the mail worker when SMTP is configured; says whether messages are to be mailed.
pub fn start(kit: &mut Kit<Config>, store: &Store) -> anyhow::Result<EmailMode> {
    let Some(server) = kit.own().smtp().map_err(anyhow::Error::msg)? else {
        tracing::info!("no SMTP server configured (BAZAAR_SMTP_URL): mailbox only");
        return Ok(EmailMode::Skip);
    };
    let from = kit.own().from_mailbox().map_err(anyhow::Error::msg)?;
    let retry = Duration::from_millis(kit.own().email_retry_base_ms);
    tracing::info!(%server, "emailing messages");
    let (store, mailer) = (store.clone(), Mailer::new(&server, from));
    kit.worker("mail", move |stop| run(store, mailer, retry, stop));
    Ok(EmailMode::Send)
}

/// Mails due messages until shutdown.
pub async fn run(
    store: Store,
    mailer: Mailer,
    retry_base: Duration,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    loop {
        // Shutdown does not wait for a slow server: an email cut off mid-conversation
        // stays claimed until its lease runs out, then is sent again (its Message-ID
        // unchanged, so a receiver can tell).
        tokio::select! {
            sent = send_due(&store, &mailer, retry_base) => {
                if let Err(e) = sent {
                    tracing::warn!(error = %e, "could not read the emails due; will look again");
                }
            }
            _ = shutdown.wait() => return Ok(()),
        }
        tokio::select! {
            _ = shutdown.wait() => return Ok(()),
            _ = tokio::time::sleep(POLL) => {}
        }
    }
}

async fn send_due(store: &Store, mailer: &Mailer, retry_base: Duration) -> Result<(), sqlx::Error> {
    let now = now_rfc3339();
    for due in store.due_emails(&now, BATCH).await? {
        let lease_until = later(LEASE);
        if !store.claim_email(&due.id, &now, &lease_until).await? {
            continue;
        }
        let attempt = due.attempts + 1;
        let span = tracing::info_span!("send_email", message_id = %due.id, attempt);
        send_one(store, mailer, retry_base, &due, attempt)
            .instrument(span)
            .await?;
    }
    Ok(())
}

/// One try at one claimed email, and its outcome recorded.
async fn send_one(
    store: &Store,
    mailer: &Mailer,
    retry_base: Duration,
    due: &DueEmail,
    attempt: i64,
) -> Result<(), sqlx::Error> {
    let outcome = match &due.to {
        Some(to) => mailer.send(&due.id, to, &due.subject, &due.body).await,
        // The user's address may come with an event not read yet.
        None => Err(MailError::Transient(
            "no email address is known for this user yet".into(),
        )),
    };
    match outcome {
        Ok(()) => {
            store.email_sent(&due.id).await?;
            tracing::info!(message_id = %due.id, attempt, "email sent");
        }
        Err(e) => {
            let retry_at = match &e {
                MailError::Transient(_) if attempt < MAX_ATTEMPTS => {
                    Some(later(retry_delay(retry_base, attempt)))
                }
                _ => None,
            };
            match &retry_at {
                Some(at) => {
                    tracing::info!(error = %e, retry_at = %at, "email not sent; will retry")
                }
                None => tracing::warn!(error = %e, "email not sent; giving up"),
            }
            store
                .email_not_sent(&due.id, &e.to_string(), retry_at.as_deref())
                .await?;
        }
    }
    Ok(())
}

/// Now plus `after`, as stored.
fn later(after: Duration) -> String {
    let after = chrono::Duration::from_std(after).unwrap_or(chrono::Duration::MAX);
    to_rfc3339(
        chrono::Utc::now()
            .checked_add_signed(after)
            .unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_by_doubling() {
        let base = Duration::from_millis(100);
        let delays: Vec<u128> = (1..=4).map(|n| retry_delay(base, n).as_millis()).collect();
        assert_eq!(delays, [100, 200, 400, 800]);
        assert!(retry_delay(base, i64::MAX) >= retry_delay(base, 17));
    }

    #[test]
    fn times_to_come_sort_after_now() {
        let now = now_rfc3339();
        assert!(later(Duration::from_secs(1)) > now);
        // The longest retry delay the settings allow still sorts as a time to come.
        assert!(later(retry_delay(Duration::from_secs(3600), MAX_ATTEMPTS)) > now);
    }

    #[tokio::test]
    async fn an_unusable_recipient_is_a_permanent_failure() {
        let mailer = Mailer::new(
            &SmtpServer {
                host: "127.0.0.1".into(),
                port: 9,
            },
            "Bazaar <shop@bazaar.local>".parse().unwrap(),
        );
        let err = mailer
            .send("m-1", "not an address", "Hi", "Body")
            .await
            .unwrap_err();
        assert!(matches!(err, MailError::Permanent(_)), "{err}");
    }
}
