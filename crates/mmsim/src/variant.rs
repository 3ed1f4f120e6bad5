//! Protocol variants: run-time choices between mainline, historical and
//! proposed kernel behaviour (DESIGN.md, "Protocol variants").
//!
//! A variant is part of the machine's configuration; code that depends on one
//! reads it from the machine's variants at the point where the kernels
//! differ (lower layers get it as an argument), never through a compile-time
//! switch.

use std::fmt;

macro_rules! variant_enum {
    ($(#[$m:meta])* $name:ident, $key:literal, { $($(#[$vm:meta])* $v:ident = $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
        pub enum $name {
            #[default]
            $($(#[$vm])* $v),+
        }

        impl $name {
            /// The variant key.
            pub const KEY: &'static str = $key;
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
    };
}

variant_enum!(
    /// How an offline skips unmovable PageOffline pages.
    OfflineSkip, "offline_skip", {
        /// Mainline: the owner drops the refcount 1→0 in MEM_GOING_OFFLINE.
        Refcount = "refcount",
        /// Proposed May 2025: PG_offline_skippable, refcount stays 1.
        Skippable = "skippable",
    }
);

variant_enum!(
    /// kcore readers against drivers setting PageOffline.
    KcoreSync, "kcore_sync", {
        /// page_offline_freeze/thaw vs page_offline_begin/end on one rwsem.
        Rwsem = "rwsem",
        /// No synchronisation (the original race).
        None = "none",
    }
);

variant_enum!(
    /// When hot-remove frees a section's memmap.
    MemmapFree, "memmap_free", {
        /// At once (mainline).
        Immediate = "immediate",
        /// After an RCU grace period (proposed).
        Rcu = "rcu",
    }
);

variant_enum!(
    /// How PFN walkers decide a PFN is safe to look at.
    PfnWalker, "pfn_walker", {
        /// pfn_to_online_page(), unsynchronised (mainline).
        OnlinePage = "online_page",
        /// Proposed pfn_active() read under RCU.
        Active = "active",
    }
);

variant_enum!(
    /// When a write fault may reuse an anonymous page.
    CowReuse, "cow_reuse", {
        /// PG_anon_exclusive (5.19 on).
        Exclusive = "exclusive",
        /// refcount == 1 (5.8 to 5.18).
        Refcount = "refcount",
        /// mapcount == 1 (up to 5.7).
        Mapcount = "mapcount",
    }
);

variant_enum!(
    /// Whether GUP-fast re-reads the PTE after its speculative reference.
    GupFastRecheck, "gup_fast_recheck", {
        /// Grab and revalidate (mainline).
        On = "on",
        /// Trust the first read (a mutant).
        Off = "off",
    }
);

variant_enum!(
    /// Whether GUP-fast pinning honours the mm's write_protect_seq.
    GupForkSeq, "gup_fork_seq", {
        /// 5.11 on.
        On = "on",
        /// Before.
        Off = "off",
    }
);

/// The machine's protocol variants.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Variants {
    /// `offline_skip`.
    pub offline_skip: OfflineSkip,
    /// `kcore_sync`.
    pub kcore_sync: KcoreSync,
    /// `memmap_free`.
    pub memmap_free: MemmapFree,
    /// `pfn_walker`.
    pub pfn_walker: PfnWalker,
    /// `cow_reuse`.
    pub cow_reuse: CowReuse,
    /// `gup_fast_recheck`.
    pub gup_fast_recheck: GupFastRecheck,
    /// `gup_fork_seq`.
    pub gup_fork_seq: GupForkSeq,
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
            VariantError::UnknownKey(k) => write!(
                f,
                "unknown variant '{k}' (known: offline_skip, kcore_sync, memmap_free, pfn_walker, cow_reuse, gup_fast_recheck, gup_fork_seq)"
            ),
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
    /// Applies one `KEY=VALUE`.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), VariantError> {
        fn apply<T>(
            slot: &mut T,
            parsed: Option<T>,
            key: &str,
            value: &str,
            accepted: &'static [&'static str],
        ) -> Result<(), VariantError> {
            *slot = parsed.ok_or_else(|| VariantError::BadValue {
                key: key.to_string(),
                value: value.to_string(),
                accepted,
            })?;
            Ok(())
        }
        match key {
            OfflineSkip::KEY => apply(
                &mut self.offline_skip,
                OfflineSkip::parse(value),
                key,
                value,
                OfflineSkip::VALUES,
            ),
            KcoreSync::KEY => apply(
                &mut self.kcore_sync,
                KcoreSync::parse(value),
                key,
                value,
                KcoreSync::VALUES,
            ),
            MemmapFree::KEY => apply(
                &mut self.memmap_free,
                MemmapFree::parse(value),
                key,
                value,
                MemmapFree::VALUES,
            ),
            PfnWalker::KEY => apply(
                &mut self.pfn_walker,
                PfnWalker::parse(value),
                key,
                value,
                PfnWalker::VALUES,
            ),
            CowReuse::KEY => apply(
                &mut self.cow_reuse,
                CowReuse::parse(value),
                key,
                value,
                CowReuse::VALUES,
            ),
            GupFastRecheck::KEY => apply(
                &mut self.gup_fast_recheck,
                GupFastRecheck::parse(value),
                key,
                value,
                GupFastRecheck::VALUES,
            ),
            GupForkSeq::KEY => apply(
                &mut self.gup_fork_seq,
                GupForkSeq::parse(value),
                key,
                value,
                GupForkSeq::VALUES,
            ),
            _ => Err(VariantError::UnknownKey(key.to_string())),
        }
    }

    /// Parses `KEY=VALUE`.
    pub fn set_pair(&mut self, pair: &str) -> Result<(), VariantError> {
        let (k, v) = pair
            .split_once('=')
            .ok_or_else(|| VariantError::UnknownKey(pair.to_string()))?;
        self.set(k, v)
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
        assert!(matches!(
            v.set("nope", "x"),
            Err(VariantError::UnknownKey(_))
        ));
    }
}
