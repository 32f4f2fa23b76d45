//! Serde types of the OpenAI Chat Completions API: requests, responses, stream chunks, errors.
