//! Property tests of the pure core: the message decoders, the key schema,
//! the crypto envelope and the sync planner. Cases per property come from
//! `PROPTEST_CASES` (proptest's default, 256, when unset; `scripts/test` pins it).

use std::collections::{BTreeMap, BTreeSet};

use proptest::collection::{btree_map, vec};
use proptest::option;
use proptest::prelude::*;
use secret_sync::crypto::{Aad, Cipher, Column};
use secret_sync::humanitec::{ValueResponse, ValueSource, WriteStamp};
use secret_sync::jobs::key_schema::KeySchema;
use secret_sync::jobs::plan::{plan_sync, PlanOptions, SourceEntry};
use secret_sync::model::{normalize_path, PushedKey};
use secret_sync::queue::{decode_event, decode_job, encode_event, encode_job, SecretChanged};
use secret_sync::{ImportBehavior, Job, JobKind};
use uuid::Uuid;

// ---------- message decoders ----------

fn routing_key() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("sync".to_string()),
        Just("import".to_string()),
        Just("remove".to_string()),
        any::<String>(),
    ]
}

/// JSON that looks like a job body: the contract's fields with values of
/// any type, plus stray fields.
fn job_like_json() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(|f| serde_json::json!(f)),
        Just(serde_json::json!(Uuid::nil())),
        Just(serde_json::json!("sync")),
        Just(serde_json::json!("import")),
        Just(serde_json::json!("prioritize-source")),
        any::<String>().prop_map(serde_json::Value::from),
    ];
    let value = leaf.prop_recursive(2, 8, 4, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            btree_map("[a-z]{1,3}", inner, 0..3)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    });
    let field = prop_oneof![
        Just("jobId".to_string()),
        Just("syncId".to_string()),
        Just("type".to_string()),
        Just("importBehavior".to_string()),
        Just("deleteSyncOnComplete".to_string()),
        Just("pruneUnmanaged".to_string()),
        Just("trigger".to_string()),
        "[a-zA-Z]{1,8}",
    ];
    btree_map(field, value, 0..8).prop_map(|m| serde_json::Value::Object(m.into_iter().collect()))
}

fn job_kind() -> impl Strategy<Value = JobKind> {
    prop_oneof![
        any::<bool>().prop_map(|prune_unmanaged| JobKind::Sync { prune_unmanaged }),
        prop_oneof![
            Just(ImportBehavior::PrioritizeSource),
            Just(ImportBehavior::PrioritizeDestination)
        ]
        .prop_map(|behavior| JobKind::Import { behavior }),
        any::<bool>().prop_map(|delete_sync_on_complete| JobKind::Remove {
            delete_sync_on_complete
        }),
    ]
}

fn job() -> impl Strategy<Value = Job> {
    (
        any::<u128>(),
        any::<u128>(),
        job_kind(),
        option::of(any::<String>()),
    )
        .prop_map(|(id, sync_id, kind, trigger)| Job {
            id: Uuid::from_u128(id),
            sync_id: Uuid::from_u128(sync_id),
            kind,
            trigger,
            actor: None,
        })
}

proptest! {
    #[test]
    fn decoding_arbitrary_bytes_never_panics(
        body in vec(any::<u8>(), 0..256),
        rk in routing_key(),
        message_id in option::of(any::<String>()),
    ) {
        let _ = decode_job(&body, &rk, message_id.as_deref());
        let _ = decode_event(&body);
    }

    #[test]
    fn decoding_job_shaped_json_never_panics_and_keeps_the_body_id(
        body in job_like_json(),
        rk in routing_key(),
    ) {
        let bytes = serde_json::to_vec(&body).expect("json");
        if let Ok(job) = decode_job(&bytes, &rk, None) {
            // A body with a valid jobId keeps it; the sync id is the body's.
            if let Some(id) = body.get("jobId").and_then(|v| v.as_str()) {
                prop_assert_eq!(Some(job.id), Uuid::parse_str(id).ok());
            }
            let sync_id = body["syncId"].as_str().and_then(|s| Uuid::parse_str(s).ok());
            prop_assert_eq!(Some(job.sync_id), sync_id);
        }
        let _ = decode_event(&bytes);
    }

    #[test]
    fn encode_then_decode_is_the_same_job(job in job(), via_routing_key in any::<bool>()) {
        let body = encode_job(&job).expect("encodes");
        let rk = if via_routing_key { job.job_type().as_str() } else { "delayed" };
        let back = decode_job(&body, rk, Some("ignored-message-id")).expect("decodes");
        prop_assert_eq!(back, job);
    }

    #[test]
    fn events_round_trip_with_a_normalised_path(
        project_id in any::<String>(),
        environment in any::<String>(),
        path in any::<String>(),
    ) {
        let event = SecretChanged { project_id, environment, path: path.clone() };
        let back = decode_event(&encode_event(&event).expect("encodes")).expect("decodes");
        let normalised = normalize_path(&path);
        prop_assert_eq!(&back.path, &normalised);
        prop_assert_eq!(normalize_path(&normalised), normalised.clone(), "normalising is idempotent");
        prop_assert_eq!((back.project_id, back.environment), (event.project_id, event.environment));
    }
}

// ---------- key schema ----------

/// Schema parts made of key characters (what `parse` accepts around the key).
fn part() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_.-]{0,6}"
}

fn key() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_.-]{1,12}"
}

fn schema_text(prefix: &str, suffix: &str) -> String {
    format!("{prefix}{{{{secretKey}}}}{suffix}")
}

/// Every string over {a, b} of length 1..=max.
fn all_keys(max: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut layer = vec![String::new()];
    for _ in 0..max {
        layer = layer
            .iter()
            .flat_map(|k| [format!("{k}a"), format!("{k}b")])
            .collect();
        out.extend(layer.iter().cloned());
    }
    out
}

proptest! {
    #[test]
    fn parsing_any_schema_never_panics(raw in option::of(any::<String>()), env in any::<String>()) {
        let _ = KeySchema::parse(raw.as_deref(), &env);
    }

    #[test]
    fn parsing_placeholder_soup_never_panics(
        pieces in vec(prop_oneof![
            Just("{{secretKey}}".to_string()),
            Just("{{environment}}".to_string()),
            Just("{{".to_string()),
            Just("}}".to_string()),
            "[A-Za-z_ /$]{0,3}",
        ], 0..6),
        env in prop_oneof![Just("{{secretKey}}".to_string()), Just("{{".to_string()), "[a-z]{0,5}"],
    ) {
        let _ = KeySchema::parse(Some(&pieces.concat()), &env);
    }

    #[test]
    fn apply_then_strip_gives_the_key_back(
        prefix in part(), suffix in part(), env in "[a-z]{1,6}", k in key(), other in key(),
    ) {
        let raw = format!("{prefix}{{{{environment}}}}{{{{secretKey}}}}{suffix}");
        let schema = KeySchema::parse(Some(&raw), &env).expect("key characters around the key are valid");
        let dest = schema.apply(&k);
        prop_assert_eq!(dest.clone(), format!("{prefix}{env}{k}{suffix}"));
        prop_assert_eq!(schema.strip(&dest), Some(k.as_str()));
        prop_assert!(schema.manages(&dest));
        // Whatever strips, applies back to itself.
        if let Some(inner) = schema.strip(&other) {
            prop_assert_eq!(schema.apply(inner), other.clone());
        }
    }

    #[test]
    fn can_collide_with_agrees_with_brute_force(
        p1 in "[ab]{0,2}", s1 in "[ab]{0,2}", p2 in "[ab]{0,2}", s2 in "[ab]{0,2}",
    ) {
        let a = KeySchema::parse(Some(&schema_text(&p1, &s1)), "e").expect("valid");
        let b = KeySchema::parse(Some(&schema_text(&p2, &s2)), "e").expect("valid");
        // Parts of at most 2 characters: if two keys collide, keys of at
        // most 5 characters do (the key absorbs the other side's extra).
        let keys = all_keys(5);
        let images: BTreeSet<String> = keys.iter().map(|k| b.apply(k)).collect();
        let brute = keys.iter().any(|k| images.contains(&a.apply(k)));
        prop_assert_eq!(a.can_collide_with(&b), brute, "{:?} vs {:?}", a, b);
        prop_assert_eq!(b.can_collide_with(&a), brute, "symmetric");
    }
}

// ---------- crypto envelope ----------

proptest! {
    #[test]
    fn encrypt_then_decrypt_round_trips(
        key in any::<[u8; 32]>(),
        plaintext in vec(any::<u8>(), 0..512),
        project in any::<String>(),
        column in any::<prop::sample::Index>(),
    ) {
        let cipher = Cipher::from_key(key);
        let at = Aad::new(&project, Column::ALL[column.index(Column::ALL.len())]);
        let sealed = cipher.encrypt(&plaintext, at);
        prop_assert_eq!(sealed[0], 0x02);
        prop_assert_eq!(cipher.decrypt(&sealed, at).expect("decrypts"), plaintext);
    }

    #[test]
    fn a_ciphertext_decrypts_only_where_it_was_written(
        key in any::<[u8; 32]>(),
        plaintext in vec(any::<u8>(), 0..64),
        (project, elsewhere) in (any::<String>(), any::<String>()),
        (column, other_column) in (any::<prop::sample::Index>(), any::<prop::sample::Index>()),
    ) {
        let cipher = Cipher::from_key(key);
        let column = Column::ALL[column.index(Column::ALL.len())];
        let other_column = Column::ALL[other_column.index(Column::ALL.len())];
        prop_assume!((&project, column) != (&elsewhere, other_column));
        let sealed = cipher.encrypt(&plaintext, Aad::new(&project, column));
        let moved = cipher.decrypt(&sealed, Aad::new(&elsewhere, other_column));
        prop_assert!(moved.is_err_and(|e| e.is_undecryptable()));
        // The old layout (no binding) reads anywhere.
        let v1 = cipher.encrypt_v1(&plaintext);
        prop_assert_eq!(cipher.decrypt(&v1, Aad::new(&elsewhere, other_column)).ok(), Some(plaintext));
    }

    #[test]
    fn truncated_altered_or_foreign_ciphertexts_are_errors(
        key in any::<[u8; 32]>(),
        other in any::<[u8; 32]>(),
        plaintext in vec(any::<u8>(), 0..128),
        cut in any::<prop::sample::Index>(),
        flip in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        prop_assume!(key != other);
        let cipher = Cipher::from_key(key);
        let at = Aad::new("p", Column::SecretValue);
        let sealed = cipher.encrypt(&plaintext, at);
        let truncated = &sealed[..cut.index(sealed.len())];
        prop_assert!(cipher.decrypt(truncated, at).is_err(), "truncated to {} bytes", truncated.len());
        let mut altered = sealed.clone();
        altered[flip.index(sealed.len())] ^= 1 << bit;
        prop_assert!(cipher.decrypt(&altered, at).is_err());
        prop_assert!(Cipher::from_key(other).decrypt(&sealed, at).is_err());
    }

    #[test]
    fn decrypting_arbitrary_bytes_never_panics(key in any::<[u8; 32]>(), data in vec(any::<u8>(), 0..128)) {
        let cipher = Cipher::from_key(key);
        let at = Aad::new("p", Column::SecretValue);
        let _ = cipher.decrypt(&data, at);
        let _ = cipher.decrypt_string(&data, at);
    }

    #[test]
    fn any_base64_key_text_is_accepted_or_refused_without_panic(raw in any::<String>()) {
        let _ = Cipher::from_base64_key(&raw);
    }
}

// ---------- planner ----------

/// Small key alphabet so that source, destination and pushed overlap often.
fn small_key() -> impl Strategy<Value = String> {
    "[AB]{1,2}"
}

#[derive(Debug, Clone)]
struct PlanInput {
    schema: KeySchema,
    source: Vec<SourceEntry>,
    destination: Vec<ValueResponse>,
    pushed: Vec<PushedKey>,
    options: PlanOptions,
}

fn plan_input() -> impl Strategy<Value = PlanInput> {
    let schema = prop_oneof![
        Just(None),
        Just(Some("P_{{secretKey}}")),
        Just(Some("{{secretKey}}_S"))
    ];
    let source = btree_map(
        small_key(),
        (0u8..2, option::of(0u8..2), prop_oneof![Just(""), Just("d")]),
        0..5,
    );
    // Humanitec's timestamps: absent, or one of two.
    let stamp = || option::of(prop_oneof![Just("t1".to_string()), Just("t2".to_string())]);
    let dest_key = prop_oneof![
        small_key(),
        small_key().prop_map(|k| format!("P_{k}")),
        small_key().prop_map(|k| format!("{k}_S")),
    ];
    let version = option::of(prop_oneof![Just("1".to_string()), Just("2".to_string())]);
    let destination = btree_map(
        dest_key.clone(),
        (
            any::<bool>(),
            prop_oneof![Just(""), Just("d")],
            option::of(prop_oneof![Just(ValueSource::App), Just(ValueSource::Env)]),
            version.clone(),
            (stamp(), stamp()),
        ),
        0..7,
    );
    let pushed = btree_map(dest_key, (0u8..2, version, (stamp(), stamp())), 0..6);
    let options = (any::<bool>(), any::<bool>(), any::<bool>()).prop_map(|(e, d, p)| PlanOptions {
        env_scope: e,
        deletion_enabled: d,
        prune_unmanaged: p,
    });
    (schema, source, destination, pushed, options).prop_map(
        |(schema, source, destination, pushed, options)| {
            let schema = KeySchema::parse(schema, "prod").expect("valid schema");
            let source = source
                .into_iter()
                .map(|(k, (fp, previous, description))| SourceEntry {
                    dest_key: schema.apply(&k),
                    source_key: k,
                    fingerprint: vec![fp],
                    previous_fingerprint: previous.map(|p| vec![p]),
                    description: description.to_string(),
                })
                .collect();
            let destination = destination
                .into_iter()
                .map(
                    |(
                        key,
                        (is_secret, description, source, secret_version, (created_at, updated_at)),
                    )| {
                        ValueResponse {
                            key,
                            value: String::new(),
                            is_secret,
                            description: description.to_string(),
                            source,
                            secret_version,
                            created_at,
                            updated_at,
                        }
                    },
                )
                .collect();
            let pushed = pushed
                .into_iter()
                .map(
                    |(key, (fp, secret_version, (created_at, updated_at)))| PushedKey {
                        key,
                        fingerprint: vec![fp],
                        secret_version,
                        stamp: created_at.zip(updated_at).map(|(created_at, updated_at)| {
                            WriteStamp {
                                created_at,
                                updated_at,
                            }
                        }),
                    },
                )
                .collect();
            PlanInput {
                schema,
                source,
                destination,
                pushed,
                options,
            }
        },
    )
}

proptest! {
    #[test]
    fn the_planner_keeps_its_promises(input in plan_input()) {
        let PlanInput { schema, source, destination, pushed, options } = &input;
        let plan = plan_sync(source, destination, pushed, schema, *options).expect("keys are valid");
        let pushed_keys: BTreeSet<&str> = pushed.iter().map(|p| p.key.as_str()).collect();
        let image: BTreeSet<String> = source.iter().map(|s| schema.apply(&s.source_key)).collect();
        let listing: BTreeMap<&str, &ValueResponse> =
            destination.iter().map(|v| (v.key.as_str(), v)).collect();

        for d in &plan.deletes {
            // Only keys this sync pushed, unless pruning (then only keys the schema matches).
            prop_assert!(
                pushed_keys.contains(d.as_str()) || (options.prune_unmanaged && schema.manages(d)),
                "deletes {} which was never pushed: {:?}", d, input
            );
            if pushed_keys.contains(d.as_str()) {
                prop_assert!(options.deletion_enabled, "deletes {} with deletion disabled", d);
            }
            prop_assert!(!image.contains(d), "deletes {} which the source still has", d);
            let listed = listing.get(d.as_str());
            prop_assert!(listed.is_some(), "deletes {} which Humanitec does not list", d);
            if options.env_scope {
                prop_assert_eq!(listed.map(|v| v.source()), Some(ValueSource::Env),
                    "env scope deletes the app-level value {}", d);
            }
        }
        for w in &plan.writes {
            prop_assert!(image.contains(&w.dest_key), "writes {} outside the source's image", w.dest_key);
            prop_assert!(!plan.deletes.contains(&w.dest_key), "writes and deletes {}", w.dest_key);
        }
        for s in source {
            let written = plan.writes.iter().filter(|w| w.dest_key == s.dest_key).count();
            let unchanged = plan.unchanged.iter().filter(|k| **k == s.dest_key).count();
            prop_assert_eq!(written + unchanged, 1, "{} is in writes {} times and unchanged {} times", s.dest_key, written, unchanged);
        }
        for p in &plan.prunes {
            prop_assert!(plan.deletes.contains(p) && !pushed_keys.contains(p.as_str()));
        }
    }
}

#[test]
fn all_keys_enumerates_every_string() {
    let keys = all_keys(3);
    assert_eq!(keys.len(), 2 + 4 + 8);
    assert_eq!(keys.iter().collect::<BTreeSet<_>>().len(), keys.len());
}
