//! The OTLP exporter, made to say when its exports fail.
//!
//! Without an endpoint nothing is exported and nothing is said. With one that cannot be
//! reached, the OpenTelemetry crates (built without their own internal logs) would drop
//! every batch in silence: an operator would look for traces that never come. This
//! wrapper logs a warning on the first failed export, and at most once a minute while
//! exports keep failing, then a line when they succeed again.

use opentelemetry_sdk::{
    Resource,
    error::OTelSdkResult,
    trace::{SpanData, SpanExporter},
};
use std::{
    sync::{
        Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

/// How often exports that keep failing are reported, at most.
const WARN_EVERY: Duration = Duration::from_secs(60);

/// `E`, reporting its failed exports in the process's log.
#[derive(Debug)]
pub(super) struct Reported<E> {
    inner: E,
    /// Where the spans go, as the log names it.
    endpoint: String,
    failing: AtomicBool,
    warned: Mutex<Option<Instant>>,
}

impl<E> Reported<E> {
    pub(super) fn new(inner: E, endpoint: String) -> Self {
        Self {
            inner,
            endpoint,
            failing: AtomicBool::new(false),
            warned: Mutex::new(None),
        }
    }

    fn failed(&self, spans: usize, error: &dyn std::fmt::Display) {
        self.failing.store(true, Ordering::Relaxed);
        let mut warned = self.warned.lock().unwrap_or_else(|e| e.into_inner());
        if warned.is_none_or(|at| at.elapsed() >= WARN_EVERY) {
            *warned = Some(Instant::now());
            tracing::warn!(
                endpoint = %self.endpoint,
                spans,
                %error,
                "traces could not be exported; these spans are lost (said at most once a minute while exports fail)"
            );
        }
    }

    fn succeeded(&self) {
        if self.failing.swap(false, Ordering::Relaxed) {
            *self.warned.lock().unwrap_or_else(|e| e.into_inner()) = None;
            tracing::info!(endpoint = %self.endpoint, "traces are exported again");
        }
    }
}

impl<E: SpanExporter> SpanExporter for Reported<E> {
    fn export(
        &self,
        batch: Vec<SpanData>,
    ) -> impl std::future::Future<Output = OTelSdkResult> + Send {
        let spans = batch.len();
        let exported = self.inner.export(batch);
        async move {
            let result = exported.await;
            match &result {
                Ok(()) => self.succeeded(),
                Err(e) => self.failed(spans, e),
            }
            result
        }
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{telemetry::text_logs, testing::Lines};
    use futures_util::FutureExt;
    use opentelemetry_sdk::error::OTelSdkError;
    use std::sync::atomic::AtomicUsize;
    use tracing_subscriber::layer::SubscriberExt;

    /// An exporter whose exports fail while `failing` says so.
    #[derive(Debug, Default)]
    struct Flaky {
        failing: AtomicBool,
        calls: AtomicUsize,
    }

    impl SpanExporter for Flaky {
        fn export(
            &self,
            _: Vec<SpanData>,
        ) -> impl std::future::Future<Output = OTelSdkResult> + Send {
            self.calls.fetch_add(1, Ordering::Relaxed);
            let failing = self.failing.load(Ordering::Relaxed);
            async move {
                if failing {
                    Err(OTelSdkError::InternalFailure("connection refused".into()))
                } else {
                    Ok(())
                }
            }
        }
    }

    #[test]
    fn failed_exports_are_said_once_a_minute_and_their_end_once() {
        let lines = Lines::default();
        let writer = lines.clone();
        let logs = text_logs("info", false, move || writer.clone());
        let exporter = Reported::new(Flaky::default(), "http://127.0.0.1:1".into());
        let export = |fail: bool| {
            exporter.inner.failing.store(fail, Ordering::Relaxed);
            exporter
                .export(Vec::new())
                .now_or_never()
                .expect("ready at once")
        };
        tracing::subscriber::with_default(tracing_subscriber::registry().with(logs), || {
            assert!(export(false).is_ok());
            assert!(lines.text().is_empty(), "nothing to say: {}", lines.text());
            for _ in 0..3 {
                assert!(export(true).is_err(), "the failure is passed on");
            }
            let text = lines.text();
            assert_eq!(
                text.matches("traces could not be exported").count(),
                1,
                "{text}"
            );
            assert!(
                text.contains("WARN") && text.contains("127.0.0.1:1"),
                "{text}"
            );
            assert!(text.contains("connection refused"), "{text}");
            assert!(export(false).is_ok());
            assert!(export(false).is_ok());
            assert_eq!(lines.text().matches("exported again").count(), 1);
            // A new run of failures is said again at once.
            assert!(export(true).is_err());
            assert_eq!(lines.text().matches("could not be exported").count(), 2);
        });
        assert_eq!(exporter.inner.calls.load(Ordering::Relaxed), 7);
    }
}
