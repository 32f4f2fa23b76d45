//! The relay's idle deadline runs from each wait for the upstream, not from the start of the
//! stream: a stream whose events are closer together than the deadline is never cut, however
//! long it runs; one that stalls is ended with an error event.

use crate::support;

use std::time::Duration;

use support::{client, config_for, Dario, Reply, StandIn};

fn paced(n: usize, pace: Duration, hang_after: bool) -> Reply {
    let mut events: Vec<String> = (0..n).map(|i| format!("data: {{\"n\":{i}}}\n\n")).collect();
    if !hang_after {
        events.push("data: [DONE]\n\n".into());
    }
    Reply::Sse {
        status: 200,
        headers: vec![],
        events,
        pace,
        reset_after: None,
        hang_after,
    }
}

async fn stream_text(dario: &Dario) -> String {
    let r = client()
        .post(dario.url("/v1/chat/completions"))
        .body(r#"{"model":"gpt-4o","stream":true,"messages":[]}"#)
        .send()
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(10), r.text())
        .await
        .expect("the stream must end")
        .unwrap()
}

#[tokio::test]
async fn a_long_stream_with_short_gaps_is_not_cut() {
    let up = StandIn::start().await;
    let mut cfg = config_for(&up, vec![]);
    cfg.limits.stream_idle_timeout = Duration::from_millis(400);
    let dario = Dario::start(cfg).await;
    // 8 gaps of 150 ms: 1.2 s in all, three times the idle deadline.
    up.push(paced(9, Duration::from_millis(150), false));
    let text = stream_text(&dario).await;
    for i in 0..9 {
        assert!(text.contains(&format!("{{\"n\":{i}}}")), "{text}");
    }
    assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
    assert!(!text.contains("\"error\""), "{text}");
}

#[tokio::test]
async fn a_stall_after_several_events_is_cut_with_an_error_event() {
    let up = StandIn::start().await;
    let mut cfg = config_for(&up, vec![]);
    cfg.limits.stream_idle_timeout = Duration::from_millis(400);
    let dario = Dario::start(cfg).await;
    up.push(paced(4, Duration::from_millis(150), true));
    let text = stream_text(&dario).await;
    for i in 0..4 {
        assert!(text.contains(&format!("{{\"n\":{i}}}")), "{text}");
    }
    assert!(text.contains("\"error\""), "{text}");
    assert!(!text.contains("[DONE]"), "{text}");
}
