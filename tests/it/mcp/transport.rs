//! Transport robustness over raw stdio: malformed input does not kill the server, EOF on stdin
//! ends the process promptly, and the cold start to the first `tools/list`.

use super::raw_rpc::Raw;
use std::time::Instant;

use super::*;

#[test]
fn malformed_input_does_not_kill_the_server() {
    let home = TestHome::new();
    let mut raw = Raw::spawn(&home);
    // Garbage before the handshake is ignored.
    raw.send_bytes(b"this is not json\n{\"unterminated\": \n\xff\xfe\x00binary\n\n");
    let r = raw.initialize("2025-11-25");
    assert_eq!(r["result"]["serverInfo"]["name"], "dario");
    // Garbage after it too; well-formed JSON that is not a message gets an Invalid Request.
    raw.send_bytes(b"}{ nope\n\x00\x01\x02\n");
    raw.send(json!({"hello": "world"}));
    let e = raw.next_frame();
    assert_eq!(e["error"]["code"], -32600, "{e}");
    // An unknown method is a protocol error, and the server still answers afterwards.
    raw.send(json!({"jsonrpc":"2.0","id":5,"method":"dario/mutate","params":{}}));
    assert!(raw.response(5)["error"].is_object());
    raw.send(json!({"jsonrpc":"2.0","id":6,"method":"tools/list"}));
    let l = raw.response(6);
    assert_eq!(l["result"]["tools"].as_array().unwrap().len(), TOOLS.len());
    raw.send(json!({"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"fingerprint_info","arguments":{}}}));
    assert!(raw.response(8)["result"]["structuredContent"].is_object());
    let (_, status) = raw.close_and_wait();
    assert!(status.success(), "{status}");
}

#[test]
fn eof_on_stdin_ends_the_process_promptly() {
    let home = TestHome::new();
    // After a session.
    let mut raw = Raw::spawn(&home);
    raw.initialize("2025-11-25");
    raw.send(json!({"jsonrpc":"2.0","id":2,"method":"tools/list"}));
    raw.response(2);
    let (took, status) = raw.close_and_wait();
    eprintln!("EOF → exit after a session: {} ms", took.as_millis());
    assert!(status.success(), "{status}");
    // Before any handshake.
    let mut raw = Raw::spawn(&home);
    let (took, status) = raw.close_and_wait();
    eprintln!("EOF → exit before initialize: {} ms", took.as_millis());
    assert!(status.success(), "{status}");
}

#[test]
fn cold_start_to_first_tools_list() {
    let home = TestHome::new();
    let mut samples = Vec::new();
    for _ in 0..5 {
        let start = Instant::now();
        let mut raw = Raw::spawn(&home);
        raw.send_bytes(
            format!(
                "{}\n{}\n{}\n",
                json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"0"}}}),
                json!({"jsonrpc":"2.0","method":"notifications/initialized"}),
                json!({"jsonrpc":"2.0","id":2,"method":"tools/list"}),
            )
            .as_bytes(),
        );
        let l = raw.response(2);
        samples.push(start.elapsed());
        assert_eq!(l["result"]["tools"].as_array().unwrap().len(), TOOLS.len());
    }
    samples.sort();
    eprintln!(
        "cold start to first tools/list answer ({} build): median {:.1} ms, min {:.1} ms, max {:.1} ms",
        if cfg!(debug_assertions) { "debug" } else { "release" },
        samples[2].as_secs_f64() * 1e3,
        samples[0].as_secs_f64() * 1e3,
        samples[4].as_secs_f64() * 1e3
    );
}
