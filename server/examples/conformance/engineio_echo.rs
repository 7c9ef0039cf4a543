//! `--layer engineio`: plain Engine.IO at `/engine.io/`, echoing every
//! message back unchanged. TODO(engine helper).
