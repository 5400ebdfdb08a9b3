"""The conversation engine: sessions, turn loop, handoff state, event stream, storage."""
