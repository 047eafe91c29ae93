//! MovieTalk's Yew front end. A pure view: all data comes through [`ipc`].

mod app;
mod components;
mod i18n;
mod ipc;
mod pages;
mod route;

fn main() {
    yew::Renderer::<app::App>::new().render();
}
