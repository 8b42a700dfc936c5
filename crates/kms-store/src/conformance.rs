//! The store conformance suite: every backend runs the same checks.

use kms_core::error::Error;
use kms_core::ports::Store;
use kms_core::types::*;

/// A symmetric key record with one material (the store tests' own).
pub(crate) fn key(id: &str, account: &str) -> KeyRecord {
    KeyRecord {
        key_id: id.into(),
        account: account.into(),
        created_ms: 1,
        description: String::new(),
        key_usage: KeyUsage::EncryptDecrypt,
        key_spec: KeySpec::SymmetricDefault,
        origin: Origin::AwsKms,
        state: KeyState::Enabled,
        deletion_ms: None,
        pending_window_days: None,
        policy: "{}".into(),
        tags: vec![],
        multi_region: false,
        multi_region_set: None,
        materials: vec![MaterialRecord {
            id: "00".repeat(32),
            sealed: vec![1, 2, 3],
            created_ms: 1,
            rotation: None,
            pending_rotation: false,
            import: None,
            in_hsm: false,
        }],
        auto_rotation: None,
        on_demand_rotation_ms: None,
        last_usage: None,
        public_key: None,
        custom_key_store: None,
        revision: 1,
    }
}

/// Write `k` as the revision after its own.
/// The store's keys by state, in the order of the state names.
async fn counts(s: &dyn Store) -> Vec<(KeyState, u64)> {
    let mut counts = s.count_keys_by_state().await.unwrap();
    counts.sort_by_key(|(s, _)| s.as_str());
    counts
}

async fn put_next(s: &dyn Store, k: &mut KeyRecord) {
    k.revision += 1;
    s.put_key(k).await.unwrap();
}

async fn suite(s: &dyn Store) {
    assert_eq!(s.get_meta("m").await.unwrap(), None);
    s.put_meta("m", b"v").await.unwrap();
    assert_eq!(s.get_meta("m").await.unwrap().as_deref(), Some(&b"v"[..]));
    s.put_meta("p/b", b"2").await.unwrap();
    s.put_meta("p/a", b"1").await.unwrap();
    s.put_meta("q", b"3").await.unwrap();
    let listed = s.list_meta("p/").await.unwrap();
    assert_eq!(listed, vec![("p/a".to_string(), b"1".to_vec()), ("p/b".to_string(), b"2".to_vec())]);
    s.delete_meta("p/a").await.unwrap();
    assert_eq!(s.list_meta("p/").await.unwrap().len(), 1);
    assert_eq!(s.get_meta("p/a").await.unwrap(), None);

    for (id, acct) in [("b", "111111111111"), ("a", "111111111111"), ("c", "111111111111"), ("a2", "222222222222")] {
        s.put_key(&key(id, acct)).await.unwrap();
    }
    assert_eq!(s.list_key_ids("111111111111", None, 10).await.unwrap(), ["a", "b", "c"]);
    assert_eq!(s.list_key_ids("111111111111", None, 2).await.unwrap(), ["a", "b"]);
    assert_eq!(s.list_key_ids("111111111111", Some("b"), 2).await.unwrap(), ["c"]);
    assert_eq!(s.list_key_ids("222222222222", None, 10).await.unwrap(), ["a2"]);
    assert_eq!(s.count_keys("111111111111").await.unwrap(), 3);
    assert_eq!(s.count_keys("333333333333").await.unwrap(), 0);
    let got = s.get_key("b").await.unwrap().unwrap();
    assert_eq!(got.materials[0].sealed, vec![1, 2, 3]);
    s.delete_key("b").await.unwrap();
    assert!(s.get_key("b").await.unwrap().is_none());
    assert_eq!(s.list_key_ids("111111111111", None, 10).await.unwrap(), ["a", "c"]);

    // The deletion queue follows the key's state.
    let mut k = s.get_key("c").await.unwrap().unwrap();
    k.state = KeyState::PendingDeletion;
    k.deletion_ms = Some(100);
    put_next(s, &mut k).await;
    assert!(s.keys_due(99, 10).await.unwrap().is_empty());
    assert_eq!(counts(s).await, [(KeyState::Enabled, 2), (KeyState::PendingDeletion, 1)]);
    assert_eq!(s.keys_due(100, 10).await.unwrap(), ["c"]);
    k.state = KeyState::Disabled;
    k.deletion_ms = None;
    put_next(s, &mut k).await;
    assert!(s.keys_due(1000, 10).await.unwrap().is_empty());
    assert_eq!(counts(s).await, [(KeyState::Disabled, 1), (KeyState::Enabled, 2)], "a state left has no row");
    // ... and so do rotations and expiries: the earliest job counts.
    k.state = KeyState::Enabled;
    k.auto_rotation = Some(AutoRotation { period_days: 90, next_ms: 500 });
    put_next(s, &mut k).await;
    assert!(s.keys_due(499, 10).await.unwrap().is_empty());
    assert_eq!(s.keys_due(500, 10).await.unwrap(), ["c"]);
    k.materials[0].import = Some(ImportRecord { valid_to_ms: Some(300), description: None });
    put_next(s, &mut k).await;
    assert_eq!(s.keys_due(300, 10).await.unwrap(), ["c"]);
    k.state = KeyState::Disabled;
    k.materials[0].import = None;
    put_next(s, &mut k).await;
    assert!(s.keys_due(10_000, 10).await.unwrap().is_empty());

    // A write over another revision than the stored one is refused, and
    // so is one that would bring a deleted key back.
    let stale = k.clone();
    put_next(s, &mut k).await;
    let mut again = stale.clone();
    again.revision += 1;
    assert!(matches!(s.put_key(&again).await, Err(Error::StaleRecord(_))));
    assert_eq!(s.get_key("c").await.unwrap().unwrap().revision, k.revision);
    let mut gone = key("gone", "111111111111");
    s.put_key(&gone).await.unwrap();
    assert!(matches!(s.put_key(&gone).await, Err(Error::StaleRecord(_))), "a second new key of the same id");
    s.delete_key("gone").await.unwrap();
    gone.revision = 2;
    assert!(matches!(s.put_key(&gone).await, Err(Error::StaleRecord(_))));
    assert!(s.get_key("gone").await.unwrap().is_none());
    // The last usage: merged without a new revision, the later kept, also
    // over a record written with an older one.
    let used =
        |at_ms: i64| LastUsage { operation: "Encrypt".into(), at_ms, request_id: format!("r{at_ms}"), principal: None };
    s.merge_usage("c", &used(50)).await.unwrap();
    s.merge_usage("c", &used(40)).await.unwrap();
    s.merge_usage("nothing", &used(40)).await.unwrap();
    let got = s.get_key("c").await.unwrap().unwrap();
    assert_eq!((got.revision, got.last_usage), (k.revision, Some(used(50))));
    k.last_usage = Some(used(10));
    k.tags = vec![("t".into(), "v".into())];
    put_next(s, &mut k).await;
    let got = s.get_key("c").await.unwrap().unwrap();
    assert_eq!((got.tags.len(), got.last_usage), (1, Some(used(50))));
    k.last_usage = Some(used(60));
    put_next(s, &mut k).await;
    assert_eq!(s.get_key("c").await.unwrap().unwrap().last_usage, Some(used(60)));

    // Grants go with their key.
    let grant = |gid: &str, key: &str| GrantRecord {
        grant_id: gid.into(),
        key_id: key.into(),
        account: "111111111111".into(),
        name: None,
        created_ms: 1,
        grantee_principal: "arn:aws:iam::111111111111:user/g".into(),
        retiring_principal: Some("arn:aws:iam::111111111111:user/r".into()),
        issuing_account: "arn:aws:iam::111111111111:root".into(),
        operations: vec!["Decrypt".into()],
        context_subset: None,
        context_equals: None,
    };
    s.put_grant(&grant("g1", "a")).await.unwrap();
    s.put_grant(&grant("g2", "a")).await.unwrap();
    s.put_grant(&grant("g3", "c")).await.unwrap();
    assert_eq!(s.list_grants("a").await.unwrap().len(), 2);
    assert_eq!(s.list_retirable_grants("arn:aws:iam::111111111111:user/r").await.unwrap().len(), 3);
    s.delete_grant("c", "g3").await.unwrap();
    assert!(s.list_grants("c").await.unwrap().is_empty());

    // Aliases go with their key.
    let alias = |name: &str, target: &str| AliasRecord {
        account: "111111111111".into(),
        name: name.into(),
        target_key_id: target.into(),
        created_ms: 1,
        updated_ms: 1,
    };
    s.put_alias(&alias("alias/one", "a")).await.unwrap();
    s.put_alias(&alias("alias/two", "c")).await.unwrap();
    assert_eq!(s.list_aliases().await.unwrap().len(), 2);
    s.delete_key("a").await.unwrap();
    assert!(s.list_grants("a").await.unwrap().is_empty());
    assert_eq!(s.list_aliases().await.unwrap(), vec![alias("alias/two", "c")]);
    s.delete_alias("111111111111", "alias/two").await.unwrap();
    assert!(s.list_aliases().await.unwrap().is_empty());

    let u = UserRecord {
        account: "111111111111".into(),
        name: "alice".into(),
        user_id: "AIDA1".into(),
        created_ms: 1,
        admin: false,
        policies: Default::default(),
        tags: vec![],
    };
    s.put_user(&u).await.unwrap();
    assert_eq!(s.get_user("111111111111", "alice").await.unwrap(), Some(u.clone()));
    assert_eq!(s.list_users(Some("222222222222")).await.unwrap(), vec![]);
    let role = RoleRecord {
        account: "111111111111".into(),
        name: "app".into(),
        role_id: "AROA1".into(),
        created_ms: 1,
        trust_policy: "{}".into(),
        policies: Default::default(),
        tags: vec![],
        max_session_secs: 3600,
    };
    s.put_role(&role).await.unwrap();
    assert_eq!(s.get_role("111111111111", "app").await.unwrap(), Some(role.clone()));
    assert_eq!(s.list_roles(Some("111111111111")).await.unwrap(), vec![role]);
    s.delete_role("111111111111", "app").await.unwrap();
    assert!(s.list_roles(None).await.unwrap().is_empty());
    let ak = AccessKeyRecord {
        access_key_id: "AKIA1".into(),
        account: u.account.clone(),
        user_name: u.name.clone(),
        sealed_secret: vec![9],
        created_ms: 1,
    };
    s.put_access_key(&ak).await.unwrap();
    assert_eq!(s.list_access_keys().await.unwrap().len(), 1);
    s.delete_user("111111111111", "alice").await.unwrap();
    assert!(s.list_access_keys().await.unwrap().is_empty());
    assert!(s.get_user("111111111111", "alice").await.unwrap().is_none());

    key_spaces(s).await;
    checkpoints(s).await;
}

/// A rollback returns every key space, the identities and the metadata to
/// the checkpoint, as often as asked; a key space made after the
/// checkpoint can be opened again.
async fn checkpoints(s: &dyn Store) {
    assert!(s.rollback().await.is_err(), "no checkpoint yet");
    s.put_key(&key("kept", "111111111111")).await.unwrap();
    let before = counts(s).await;
    s.checkpoint().await.unwrap();
    for _ in 0..2 {
        s.delete_key("kept").await.unwrap();
        s.put_key(&key("later", "111111111111")).await.unwrap();
        s.put_meta("later", b"1").await.unwrap();
        s.put_user(&UserRecord {
            account: "111111111111".into(),
            name: "later".into(),
            user_id: "AIDALATER".into(),
            created_ms: 1,
            admin: false,
            policies: Default::default(),
            tags: vec![],
        })
        .await
        .unwrap();
        let fresh = s.key_space("eu-north-1").await.unwrap();
        fresh.put_key(&key("x", "111111111111")).await.unwrap();
        s.rollback().await.unwrap();
        assert!(s.get_key("kept").await.unwrap().is_some());
        assert!(s.get_key("later").await.unwrap().is_none());
        assert_eq!(s.get_meta("later").await.unwrap(), None);
        assert!(s.get_user("111111111111", "later").await.unwrap().is_none());
        let fresh = s.key_space("eu-north-1").await.unwrap();
        assert!(fresh.get_key("x").await.unwrap().is_none());
        assert_eq!(counts(s).await, before);
        assert!(counts(fresh.as_ref()).await.is_empty());
    }
    s.drop_checkpoint().await.unwrap();
    assert!(s.rollback().await.is_err());
    s.delete_key("kept").await.unwrap();
}

/// Key spaces (regions) are isolated from each other; metadata and
/// identities are shared.
async fn key_spaces(s: &dyn Store) {
    let west = s.key_space("us-west-2").await.unwrap();
    let home = s.key_space("").await.unwrap();
    assert_eq!(home.list_key_ids("111111111111", None, 10).await.unwrap(), ["c"]);
    assert!(west.list_key_ids("111111111111", None, 10).await.unwrap().is_empty());
    assert!(west.get_key("c").await.unwrap().is_none());
    let mut k = key("c", "111111111111");
    k.description = "west".into();
    k.state = KeyState::PendingDeletion;
    k.deletion_ms = Some(7);
    west.put_key(&k).await.unwrap();
    west.put_alias(&AliasRecord {
        account: "111111111111".into(),
        name: "alias/w".into(),
        target_key_id: "c".into(),
        created_ms: 1,
        updated_ms: 1,
    })
    .await
    .unwrap();
    assert_eq!(west.get_key("c").await.unwrap().unwrap().description, "west");
    assert_eq!(s.get_key("c").await.unwrap().unwrap().description, "");
    assert_eq!(west.keys_due(10, 10).await.unwrap(), ["c"]);
    assert!(s.keys_due(10, 10).await.unwrap().is_empty());
    assert_eq!(counts(west.as_ref()).await, [(KeyState::PendingDeletion, 1)]);
    assert!(!counts(s).await.contains(&(KeyState::PendingDeletion, 1)));
    assert!(s.list_aliases().await.unwrap().is_empty());
    assert_eq!(west.list_aliases().await.unwrap().len(), 1);
    // A second view of the same space sees the same records.
    let again = s.key_space("us-west-2").await.unwrap();
    assert_eq!(again.list_key_ids("111111111111", None, 10).await.unwrap(), ["c"]);
    west.put_meta("shared", b"1").await.unwrap();
    assert_eq!(s.get_meta("shared").await.unwrap().as_deref(), Some(&b"1"[..]));
    west.delete_key("c").await.unwrap();
    assert!(west.list_aliases().await.unwrap().is_empty());
    assert!(s.get_key("c").await.unwrap().is_some());
}

/// A snapshot of `s` restores into the empty `empty`, record for record,
/// and not into a store that holds records.
pub async fn snapshots(s: &dyn Store, empty: &dyn Store) {
    s.put_key(&key("snap", "111111111111")).await.unwrap();
    let west = s.key_space("us-west-2").await.unwrap();
    let mut w = key("w", "111111111111");
    w.state = KeyState::PendingDeletion;
    w.deletion_ms = Some(5);
    west.put_key(&w).await.unwrap();
    let taken = s.snapshot().await.unwrap();
    assert!(taken.records() >= 2);
    assert!(!taken.meta.iter().any(|(k, _)| k == "schema-version"));
    empty.restore(&taken).await.unwrap();
    let again = empty.snapshot().await.unwrap();
    assert_eq!(serde_json::to_string(&again).unwrap(), serde_json::to_string(&taken).unwrap());
    // The indexes came along: pagination, the job queue, another space.
    assert!(empty.list_key_ids("111111111111", None, 100).await.unwrap().contains(&"snap".to_string()));
    let ewest = empty.key_space("us-west-2").await.unwrap();
    assert_eq!(ewest.keys_due(10, 10).await.unwrap(), ["w"]);
    assert_eq!(counts(empty).await, counts(s).await);
    assert_eq!(counts(ewest.as_ref()).await, [(KeyState::PendingDeletion, 1)]);
    assert!(empty.restore(&taken).await.is_err(), "a store with records is refused");
    west.delete_key("w").await.unwrap();
    s.delete_key("snap").await.unwrap();
}

#[tokio::test]
async fn redb_snapshots() {
    let (a, b) = (crate::RedbStore::in_memory().unwrap(), crate::RedbStore::in_memory().unwrap());
    suite(&a).await;
    snapshots(&a, &b).await;
}

#[tokio::test]
async fn redb_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kms.redb");
    suite(&crate::RedbStore::open(&path).unwrap()).await;
    // Reopening keeps what was committed.
    let s = crate::RedbStore::open(&path).unwrap();
    assert_eq!(s.list_key_ids("111111111111", None, 10).await.unwrap(), ["c"]);
}

#[tokio::test]
async fn redb_in_memory() {
    suite(&crate::RedbStore::in_memory().unwrap()).await;
}

/// The same suite against a real PostgreSQL, started for the test (see
/// `crate::testing`): fails when the server binaries are missing.
#[tokio::test]
async fn postgres() {
    let pg = crate::testing::TestPostgres::start();
    pg.createdb("empty");
    let open =
        |url: String| async move { crate::PgStore::connect(&crate::PgConfig::parse(&url).unwrap()).await.unwrap() };
    let s = open(pg.url()).await;
    suite(&s).await;
    snapshots(&s, &open(pg.url_of("empty")).await).await;
    // Reopening (the schema is there already) keeps what was committed.
    let again = open(pg.url()).await;
    assert_eq!(again.list_key_ids("111111111111", None, 10).await.unwrap(), ["c"]);
}
