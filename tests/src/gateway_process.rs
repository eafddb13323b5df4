//! Running the real lienthong binary from tests.
