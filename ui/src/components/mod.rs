//! Pieces shared by several screens.

pub mod avatar;
pub mod movie_list;
pub mod stars;
pub mod status_bar;
pub mod watch_toggle;
