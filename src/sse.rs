//! Incremental Server-Sent Events parser and writer: split UTF-8, CRLF, comments, multi-line
//! `data:`. Must not: allocate per byte.
