//! A person's avatar: their picture when their profile names one (fetched and kept by the
//! shell's `avatar:` protocol), else — or while offline with nothing kept — their initials on a
//! colour chosen from their handle.

use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct AvatarProps {
    pub handle: String,
    /// The display name, for the initials (the handle when absent).
    #[prop_or_default]
    pub name: Option<String>,
    #[prop_or_default]
    pub url: Option<String>,
    /// The profile page's large one.
    #[prop_or_default]
    pub large: bool,
}

/// Colours an avatar placeholder may take (`.hue-0` … in the stylesheet, shared with posters).
const HUES: u32 = 12;

#[function_component(Avatar)]
pub fn avatar(props: &AvatarProps) -> Html {
    let failed = use_state(|| false);
    let ctx = crate::route::use_ctx();
    let class = classes!("avatar", props.large.then_some("large"));
    if let Some(url) = props.url.as_ref().filter(|u| !u.is_empty() && !*failed) {
        let onerror = {
            let failed = failed.clone();
            Callback::from(move |_| failed.set(true))
        };
        let src = ctx.asset_url("avatar", url);
        return html! { <img class={class} alt="" src={src} {onerror} /> };
    }
    let hue = props
        .handle
        .bytes()
        .fold(7u32, |h, b| h.wrapping_mul(31).wrapping_add(b.into()))
        % HUES;
    html! {
        <span class={classes!(class, "initials", format!("hue-{hue}"))} aria-hidden="true">
            { initials(props.name.as_deref().filter(|n| !n.trim().is_empty()).unwrap_or(&props.handle)) }
        </span>
    }
}

/// Up to two letters: the first of the first two words ("Bora Kim" → "BK"; a Korean name
/// "김보라" → "김").
fn initials(name: &str) -> String {
    name.split_whitespace()
        .take(2)
        .filter_map(|w| w.chars().find(|c| c.is_alphanumeric()))
        .flat_map(char::to_uppercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::initials;

    #[test]
    fn initials_take_the_first_letter_of_two_words() {
        assert_eq!(initials("Bora Kim"), "BK");
        assert_eq!(initials("ari"), "A");
        assert_eq!(initials("김보라"), "김");
        assert_eq!(initials("  _x y z"), "XY");
    }
}
