//! Protocol variants: run-time choices between mainline, historical and
//! proposed kernel behaviour (DESIGN.md, "Protocol variants").
//!
//! A variant is part of the machine's configuration; code that depends on one
//! reads it from the machine's variants at the point where the kernels
//! differ (lower layers get it as an argument), never through a compile-time
//! switch.
//!
//! Every variant is written once, in the `variants!` invocation below: its
//! key, its enum, its values (default first) and what each means. From that
//! one list the macro makes the enums, the [`Variants`] struct, its
//! [`Variants::set`], the key table [`Variants::KEYS`] that error messages
//! and help texts use, and [`Variants::iter`] / `Display`, which print the
//! current settings as `KEY=VALUE`.

use std::fmt;

/// Defines every variant from one list: `field: Enum { Value = "value", ... }`
/// with the default value first. See the module doc for what it generates.
macro_rules! variants {
    ($(
        $(#[$m:meta])*
        $field:ident: $name:ident {
            $($(#[$vm:meta])* $v:ident = $s:literal),+ $(,)?
        }
    )+) => {
        $(
            $(#[$m])*
            #[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
            pub enum $name {
                #[default]
                $($(#[$vm])* $v),+
            }

            impl $name {
                /// The variant key.
                pub const KEY: &'static str = stringify!($field);
                /// Accepted values, default first.
                pub const VALUES: &'static [&'static str] = &[$($s),+];

                fn parse(s: &str) -> Option<$name> {
                    match s {
                        $($s => Some($name::$v),)+
                        _ => None,
                    }
                }

                /// The value as written in a scenario.
                pub const fn as_str(self) -> &'static str {
                    match self {
                        $($name::$v => $s,)+
                    }
                }
            }

            impl fmt::Display for $name {
                fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str(self.as_str())
                }
            }
        )+

        /// The machine's protocol variants, one field per key; `Default` is
        /// mainline everywhere.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
        pub struct Variants {
            $(
                #[doc = concat!("`", stringify!($field), "`: see [`", stringify!($name), "`].")]
                pub $field: $name,
            )+
        }

        impl Variants {
            /// Every key with its accepted values, default first, in
            /// definition order.
            pub const KEYS: &'static [(&'static str, &'static [&'static str])] =
                &[$(($name::KEY, $name::VALUES)),+];

            /// Applies one `KEY=VALUE`; the settings are unchanged on error.
            pub fn set(&mut self, key: &str, value: &str) -> Result<(), VariantError> {
                let bad = |accepted| VariantError::BadValue {
                    key: key.to_string(),
                    value: value.to_string(),
                    accepted,
                };
                match key {
                    $($name::KEY => {
                        self.$field = $name::parse(value).ok_or_else(|| bad($name::VALUES))?;
                    })+
                    _ => return Err(VariantError::UnknownKey(key.to_string())),
                }
                Ok(())
            }

            /// The current settings as (key, value), in definition order.
            pub fn iter(&self) -> impl Iterator<Item = (&'static str, &'static str)> {
                [$(($name::KEY, self.$field.as_str())),+].into_iter()
            }
        }
    };
}

variants! {
    /// How an offline gets past unmovable PageOffline pages a driver wants
    /// to let go of (virtio-mem's fake-offline pages).
    offline_skip: OfflineSkip {
        /// Mainline: the owner drops the refcount 1→0 in MEM_GOING_OFFLINE
        /// and takes it back in MEM_CANCEL_OFFLINE.
        Refcount = "refcount",
        /// Proposed May 2025 (not merged): PG_offline_skippable, the
        /// refcount stays 1 and the notifier does nothing.
        Skippable = "skippable",
        /// The future the proposal's comment describes: PG_offline_skippable
        /// pages are frozen at refcount 0 for as long as the driver keeps
        /// them, so no speculative reference (`page get`, a PFN walker's)
        /// can be taken on them, and an offline that skips them cannot leave
        /// a reference behind.
        Frozen = "frozen",
    }

    /// kcore readers against drivers setting PageOffline.
    kcore_sync: KcoreSync {
        /// page_offline_freeze/thaw vs page_offline_begin/end on one rwsem.
        Rwsem = "rwsem",
        /// No synchronisation (the original race).
        None = "none",
    }

    /// When hot-remove frees a section's memmap.
    memmap_free: MemmapFree {
        /// At once (mainline).
        Immediate = "immediate",
        /// After an RCU grace period (proposed).
        Rcu = "rcu",
    }

    /// How PFN walkers decide a PFN is safe to look at.
    pfn_walker: PfnWalker {
        /// pfn_to_online_page(), unsynchronised (mainline).
        OnlinePage = "online_page",
        /// Proposed pfn_active() read under RCU.
        Active = "active",
    }

    /// When a write fault may reuse an anonymous page.
    cow_reuse: CowReuse {
        /// PG_anon_exclusive (5.19 on).
        Exclusive = "exclusive",
        /// refcount == 1 (5.8 to 5.18).
        Refcount = "refcount",
        /// mapcount == 1 (up to 5.7).
        Mapcount = "mapcount",
    }

    /// Whether GUP-fast re-reads the PTE after its speculative reference.
    gup_fast_recheck: GupFastRecheck {
        /// Grab and revalidate (mainline).
        On = "on",
        /// Trust the first read (a mutant).
        Off = "off",
    }

    /// Whether GUP-fast pinning honours the mm's write_protect_seq.
    gup_fork_seq: GupForkSeq {
        /// 5.11 on.
        On = "on",
        /// Before.
        Off = "off",
    }

    /// What a hot-added memmap starts as (`memmap_init_range(...,
    /// MEMINIT_HOTPLUG)`), and so what a page that no online_page callback
    /// hands to the buddy looks like to offlining and to PFN walkers.
    memmap_init: MemmapInit {
        /// 6.11 on (7.2): PageOffline, refcount 1; `generic_online_page()`
        /// → `__free_pages_core()` clears PageOffline (and WARNs on
        /// PG_reserved). A page kept back stays PageOffline: kcore skips it,
        /// kpageflags shows OFFLINE (bit 23), offlining may skip it.
        Offline = "offline",
        /// Up to 6.10: PG_reserved, refcount 1; `__free_pages_core()`
        /// clears PG_reserved. A page kept back stays PG_reserved unless its
        /// driver sets PageOffline itself (virtio-mem did, and cleared
        /// PG_reserved so that offlining would not stop at it): kcore reads
        /// it, kpageflags shows only RESERVED (bit 32, which page-types
        /// hides without -r), and `has_unmovable_pages()` refuses to isolate
        /// its pageblock.
        Reserved = "reserved",
    }
}

/// A `KEY=VALUE` the machine does not know.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VariantError {
    /// No such key.
    UnknownKey(String),
    /// The key exists but not this value.
    BadValue {
        /// The key.
        key: String,
        /// The rejected value.
        value: String,
        /// What would have been accepted.
        accepted: &'static [&'static str],
    },
}

impl fmt::Display for VariantError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VariantError::UnknownKey(k) => {
                let known: Vec<&str> = Variants::KEYS.iter().map(|(key, _)| *key).collect();
                write!(f, "unknown variant '{k}' (known: {})", known.join(", "))
            }
            VariantError::BadValue {
                key,
                value,
                accepted,
            } => write!(
                f,
                "variant {key} cannot be '{value}' (one of: {})",
                accepted.join(", ")
            ),
        }
    }
}

impl std::error::Error for VariantError {}

impl Variants {
    /// Parses `KEY=VALUE`.
    pub fn set_pair(&mut self, pair: &str) -> Result<(), VariantError> {
        let (k, v) = pair
            .split_once('=')
            .ok_or_else(|| VariantError::UnknownKey(pair.to_string()))?;
        self.set(k, v)
    }
}

/// The settings as a `variant` line takes them: `KEY=VALUE` pairs separated
/// by spaces, every key, in definition order.
impl fmt::Display for Variants {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (k, v)) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{k}={v}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variants_parse_and_reject() {
        let mut v = Variants::default();
        assert_eq!(v.cow_reuse, CowReuse::Exclusive);
        v.set_pair("cow_reuse=mapcount").unwrap();
        assert_eq!(v.cow_reuse, CowReuse::Mapcount);
        v.set("memmap_free", "rcu").unwrap();
        assert_eq!(v.memmap_free, MemmapFree::Rcu);
        assert!(matches!(
            v.set("memmap_free", "later"),
            Err(VariantError::BadValue { .. })
        ));
        assert_eq!(v.memmap_free, MemmapFree::Rcu, "unchanged on error");
        assert!(matches!(
            v.set("nope", "x"),
            Err(VariantError::UnknownKey(_))
        ));
    }

    // The key table, the parser and the printer come from one list: every
    // key accepts exactly its listed values, the first is the default, and
    // what Display prints parses back to the same settings.
    #[test]
    fn keys_set_and_display_agree() {
        let default = Variants::default();
        for (i, &(key, values)) in Variants::KEYS.iter().enumerate() {
            assert_eq!(default.iter().nth(i), Some((key, values[0])), "{key}");
            for value in values {
                let mut v = Variants::default();
                v.set(key, value).unwrap();
                assert!(v.iter().any(|kv| kv == (key, *value)));
            }
        }
        let mut v = Variants::default();
        v.set_pair("offline_skip=frozen").unwrap();
        v.set_pair("kcore_sync=none").unwrap();
        let printed = v.to_string();
        assert!(printed.starts_with("offline_skip=frozen kcore_sync=none memmap_free=immediate"));
        let mut back = Variants::default();
        for pair in printed.split(' ') {
            back.set_pair(pair).unwrap();
        }
        assert_eq!(back, v);
        let msg = VariantError::UnknownKey("x".into()).to_string();
        for (key, _) in Variants::KEYS {
            assert!(msg.contains(key), "{msg}");
        }
    }
}
