//! humanitec-sandbox: a stateful fake of Humanitec's values API (to be built).
