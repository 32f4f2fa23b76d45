//! Serde types of the Anthropic Messages API: requests, responses, stream events, errors.
