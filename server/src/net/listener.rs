//! TODO (engine helper): the hyper accept loop.
