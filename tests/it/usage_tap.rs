//! The passthrough usage taps (`translate::UsageTap`) pass over chunks of whole events that
//! cannot concern them without parsing them. Property: on the stand-in's real event streams of
//! every protocol, cut anywhere (mostly on event boundaries, where chunks are skippable), the tap
//! reports the same usage, completion and error as a tap fed byte by byte (a one-byte chunk never
//! ends with a blank line, so that tap parses every event), and that usage is the stream's own.

use dario::protocol::{Protocol, Usage};
use dario::translate::UsageTap;
use proptest::prelude::*;

use crate::support::standin::{anthropic_sse, canned_content, openai_sse, responses_sse, Canned};

const MODEL: &str = "m-tap";

/// One stream: its events, and what a tap must report for it.
struct Case {
    protocol: Protocol,
    events: Vec<String>,
    input_tokens: u64,
    output_tokens: u64,
    completed: bool,
    errored: bool,
}

fn cases() -> Vec<Case> {
    let mut out = Vec::new();
    for scenario in ["text", "tools", "thinking"] {
        let c: Canned = canned_content(scenario);
        let full = |protocol, events: Vec<String>| Case {
            protocol,
            events,
            input_tokens: c.input_tokens,
            output_tokens: c.output_tokens,
            completed: true,
            errored: false,
        };
        out.push(full(Protocol::Anthropic, anthropic_sse(&c, MODEL)));
        out.push(full(Protocol::OpenAi, openai_sse(&c, MODEL, true)));
        out.push(full(Protocol::Responses, responses_sse(&c, MODEL)));
        // Anthropic: the upstream's own error event instead of message_delta / message_stop
        // (usage so far: message_start's).
        let mut a = anthropic_sse(&c, MODEL);
        a.truncate(a.len() - 2);
        a.push(
            "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n"
                .into(),
        );
        out.push(Case {
            protocol: Protocol::Anthropic,
            events: a,
            input_tokens: c.input_tokens,
            output_tokens: 1,
            completed: false,
            errored: true,
        });
        // Anthropic events without `event:` lines (the tap reads their data's type instead).
        out.push(Case {
            events: anthropic_sse(&c, MODEL)
                .into_iter()
                .map(|e| e.split_once('\n').unwrap().1.to_string())
                .collect(),
            ..full(Protocol::Anthropic, vec![])
        });
        // OpenAI without usage, then an error instead of [DONE].
        let mut o = openai_sse(&c, MODEL, false);
        o.pop();
        o.push("data: {\"error\":{\"message\":\"overloaded\"}}\n\n".into());
        out.push(Case {
            protocol: Protocol::OpenAi,
            events: o,
            input_tokens: 0,
            output_tokens: 0,
            completed: false,
            errored: true,
        });
    }
    out
}

fn report(t: &UsageTap) -> (Usage, bool, bool) {
    (t.usage(), t.completed(), t.errored())
}

fn check(case: &Case, cut_after: &[bool], extra: &[usize]) -> Result<(), TestCaseError> {
    let bytes = case.events.concat();
    let bytes = bytes.as_bytes();
    let mut cuts: Vec<usize> = case
        .events
        .iter()
        .scan(0, |end, e| {
            *end += e.len();
            Some(*end)
        })
        .zip(cut_after.iter().cycle())
        .filter(|(_, cut)| **cut)
        .map(|(end, _)| end)
        .chain(extra.iter().map(|x| x % bytes.len()))
        .collect();
    cuts.sort_unstable();
    cuts.dedup();
    let mut tap = UsageTap::new(case.protocol);
    let mut from = 0;
    for &to in cuts.iter().chain([&bytes.len()]) {
        tap.feed(&bytes[from..to]);
        from = to;
    }
    let mut reference = UsageTap::new(case.protocol);
    for b in bytes {
        reference.feed(std::slice::from_ref(b));
    }
    prop_assert_eq!(report(&tap), report(&reference), "cuts {:?}", cuts);
    let (u, completed, errored) = report(&reference);
    prop_assert_eq!(
        (u.input_tokens > 0, u.output_tokens),
        (case.input_tokens > 0, case.output_tokens)
    );
    prop_assert_eq!((completed, errored), (case.completed, case.errored));
    Ok(())
}

#[test]
fn every_event_its_own_chunk_or_all_in_one() {
    for case in cases() {
        check(&case, &[true], &[]).unwrap();
        check(&case, &[false], &[]).unwrap();
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn skipping_tap_reports_what_the_parsing_tap_does(
        cut_after in proptest::collection::vec(any::<bool>(), 1..40),
        extra in proptest::collection::vec(any::<usize>(), 0..4),
    ) {
        for case in cases() {
            check(&case, &cut_after, &extra)?;
        }
    }
}
