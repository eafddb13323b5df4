//! The endpoint keys every destination kind shares: its timeouts, and where the kind has them
//! its OAuth2 token endpoint (`[destinations.<name>.oauth]`) and its `mappings_dir`.
//!
//! Each kind's configuration is one flat TOML table whose unknown keys are errors. serde's
//! `flatten` cannot be combined with `deny_unknown_fields`, so the shared keys are not a nested
//! struct: [`destination_config!`] appends them to the kind's own fields (one documentation, one
//! set of defaults) and implements [`EndpointConfig`], through which the gateway and the kind's
//! [`crate::kind::KindConfig`] read them.

use std::path::Path;
use std::time::Duration;

use crate::oauth::OAuthConfig;

/// The shared endpoint keys of one destination, as configured.
#[derive(Debug, Clone, Copy)]
pub struct Endpoint<'a> {
    /// Time allowed to connect (`connect_timeout`).
    pub connect_timeout: Duration,
    /// Time allowed for one call, answer included (`timeout`).
    pub timeout: Duration,
    /// Bearer tokens from an integration platform (`[oauth]`), for kinds that take them.
    pub oauth: Option<&'a OAuthConfig>,
    /// Edited mapping files replacing the kind's built-in ones (`mappings_dir`), for kinds that
    /// render with mappings.
    pub mappings_dir: Option<&'a Path>,
}

/// A destination configuration with the shared endpoint keys; implemented by
/// [`destination_config!`].
pub trait EndpointConfig {
    /// Its endpoint keys.
    fn endpoint(&self) -> Endpoint<'_>;
}

/// Ten seconds: the usual `connect_timeout`.
pub const fn ten_seconds() -> Duration {
    Duration::from_secs(10)
}

/// Five seconds: the center's own software is on the local network.
pub const fn five_seconds() -> Duration {
    Duration::from_secs(5)
}

/// Thirty seconds: the usual `timeout` of a JSON call.
pub const fn thirty_seconds() -> Duration {
    Duration::from_secs(30)
}

/// Sixty seconds: the `timeout` of a call carrying signed documents or files.
pub const fn sixty_seconds() -> Duration {
    Duration::from_secs(60)
}

/// Declares a kind's configuration struct with the shared endpoint keys appended.
///
/// ```text
/// destination_config! {
///     /// `[destinations.<name>]` with `kind = "emc"`.
///     #[derive(Debug, Clone, Deserialize)]
///     #[serde(deny_unknown_fields)]
///     pub struct EmcConfig {
///         /// Where reports are posted.
///         pub url: String,
///     }
///     endpoint { connect_timeout = "crate::endpoint::ten_seconds",
///                timeout = "crate::endpoint::thirty_seconds", oauth, mappings_dir }
/// }
/// ```
/// `oauth` and `mappings_dir` are optional; the timeouts' defaults are paths of functions
/// (serde's `default = "…"`).
macro_rules! destination_config {
    (
        $(#[$meta:meta])*
        pub struct $name:ident { $($fields:tt)* }
        endpoint {
            connect_timeout = $connect:tt, timeout = $timeout:tt $(, $part:ident)* $(,)?
        }
    ) => {
        $crate::endpoint::destination_config!(
            @munch [$(#[$meta])*] $name [$($part)*] [no no] [$connect $timeout] { $($fields)* }
        );
    };
    (@munch $meta:tt $name:ident [oauth $($rest:ident)*] [$o:ident $m:ident] $t:tt
        { $($fields:tt)* }) => {
        $crate::endpoint::destination_config!(@munch $meta $name [$($rest)*] [yes $m] $t {
            $($fields)*
            /// Bearer tokens from the integration platform, when the system is reached through
            /// one (`[destinations.<name>.oauth]`).
            #[serde(default)]
            pub oauth: Option<$crate::oauth::OAuthConfig>,
        });
    };
    (@munch $meta:tt $name:ident [mappings_dir $($rest:ident)*] [$o:ident $m:ident] $t:tt
        { $($fields:tt)* }) => {
        $crate::endpoint::destination_config!(@munch $meta $name [$($rest)*] [$o yes] $t {
            $($fields)*
            /// Directory of edited mapping files replacing the kind's built-in mappings
            /// (`lienthong mapping check` reads it as start-up does).
            #[serde(default)]
            pub mappings_dir: Option<std::path::PathBuf>,
        });
    };
    (@munch [$($meta:tt)*] $name:ident [] [$o:ident $m:ident] [$connect:tt $timeout:tt]
        { $($fields:tt)* }) => {
        $($meta)*
        pub struct $name {
            $($fields)*
            /// Time allowed to connect.
            #[serde(default = $connect, with = "crate::serde_duration")]
            pub connect_timeout: std::time::Duration,
            /// Time allowed for one call, answer included.
            #[serde(default = $timeout, with = "crate::serde_duration")]
            pub timeout: std::time::Duration,
        }

        impl $crate::endpoint::EndpointConfig for $name {
            fn endpoint(&self) -> $crate::endpoint::Endpoint<'_> {
                $crate::endpoint::Endpoint {
                    connect_timeout: self.connect_timeout,
                    timeout: self.timeout,
                    oauth: $crate::endpoint::destination_config!(@key $o self.oauth.as_ref()),
                    mappings_dir: $crate::endpoint::destination_config!(
                        @key $m self.mappings_dir.as_deref()
                    ),
                }
            }
        }
    };
    (@key yes $($value:tt)*) => { $($value)* };
    (@key no $($value:tt)*) => { None };
}

pub(crate) use destination_config;

#[cfg(test)]
mod tests {
    use super::*;

    destination_config! {
        /// A kind with every shared key.
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct Full {
            /// Its own key.
            pub url: String,
        }
        endpoint {
            connect_timeout = "crate::endpoint::five_seconds",
            timeout = "crate::endpoint::sixty_seconds", oauth, mappings_dir
        }
    }

    destination_config! {
        /// A kind with the timeouts only.
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct Bare {
            /// Its own key.
            pub url: String,
        }
        endpoint {
            connect_timeout = "crate::endpoint::ten_seconds",
            timeout = "crate::endpoint::thirty_seconds"
        }
    }

    #[test]
    fn the_shared_keys_take_their_defaults_and_are_read_through_the_endpoint() {
        let full: Full = toml::from_str("url = \"https://a.example\"").unwrap();
        assert_eq!(full.url, "https://a.example");
        let e = full.endpoint();
        assert_eq!(e.connect_timeout, Duration::from_secs(5));
        assert_eq!(e.timeout, Duration::from_secs(60));
        assert!(e.oauth.is_none() && e.mappings_dir.is_none());

        let full: Full = toml::from_str(
            "url = \"https://a.example\"\nmappings_dir = \"/etc/lienthong/m\"\ntimeout = \"2s\"\n\
             [oauth]\ntoken_url = \"https://t.example/token\"\nclient_id = \"c\"\n\
             client_secret_file = \"/run/credentials/s\"\n",
        )
        .unwrap();
        let e = full.endpoint();
        assert_eq!(e.timeout, Duration::from_secs(2));
        assert_eq!(e.mappings_dir, Some(Path::new("/etc/lienthong/m")));
        assert_eq!(e.oauth.unwrap().token_url, "https://t.example/token");
    }

    #[test]
    fn a_kind_without_a_shared_key_refuses_it_as_unknown() {
        let bare: Bare = toml::from_str("url = \"https://a.example\"").unwrap();
        assert_eq!(bare.url, "https://a.example");
        assert_eq!(bare.endpoint().timeout, Duration::from_secs(30));
        assert!(bare.endpoint().mappings_dir.is_none());
        let e = toml::from_str::<Bare>("url = \"https://a.example\"\nmappings_dir = \"/m\"")
            .unwrap_err();
        assert!(
            e.to_string().contains("unknown field `mappings_dir`"),
            "{e}"
        );
        let e = toml::from_str::<Full>("url = \"https://a.example\"\nconect_timeout = \"1s\"")
            .unwrap_err();
        assert!(
            e.to_string().contains("unknown field `conect_timeout`"),
            "{e}"
        );
    }
}
