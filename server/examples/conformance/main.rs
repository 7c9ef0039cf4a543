//! The conformance example server expected by the Socket.IO project's
//! protocol test suites (see the Socket.IO core issue). TODO(engine helper).

mod engineio_echo;
mod socketio_echo;

fn main() {}
