//! Regions and multi-Region keys in one server, through the official client:
//! isolation of key spaces, every multi-Region operation and error, replica
//! state transitions, rotation propagation, primary moves and deletion.

use std::time::Duration;

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{KeyState, MultiRegionKeyType, Tag};
use aws_sdk_kms::Client as Sdk;

use crate::harness::*;
use crate::symmetric::{advance, dev_server};

const DAY: i64 = 86400;

fn dev_sdk(server: &kms::server::Server, region: &str) -> Sdk {
    sdk_client_in(&format!("http://{}", server.addr), "test", "test", region)
}

/// Wait (up to 5 s) until the key's state in `kms`'s region is `want`.
pub async fn wait_state(kms: &Sdk, id: &str, want: KeyState) -> aws_sdk_kms::types::KeyMetadata {
    let mut last = None;
    for _ in 0..100 {
        if let Ok(d) = kms.describe_key().key_id(id).send().await {
            let m = d.key_metadata.unwrap();
            if m.key_state() == Some(&want) {
                return m;
            }
            last = m.key_state().cloned();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{id} never reached {want:?} in {:?} (last {last:?})", kms.config().region());
}

async fn encrypt(kms: &Sdk, id: &str, pt: &[u8]) -> Blob {
    kms.encrypt().key_id(id).plaintext(Blob::new(pt)).send().await.unwrap().ciphertext_blob.unwrap()
}

async fn decrypt(kms: &Sdk, blob: &Blob) -> (Vec<u8>, String, String) {
    let d = kms.decrypt().ciphertext_blob(blob.clone()).send().await.unwrap();
    (d.plaintext.unwrap().into_inner(), d.key_id.unwrap(), d.key_material_id.unwrap_or_default())
}

#[tokio::test]
async fn each_region_has_its_own_key_space() {
    let server = dev_server().await;
    let (east, west) = (dev_sdk(&server, "us-east-1"), dev_sdk(&server, "us-west-2"));
    let k = east.create_key().send().await.unwrap().key_metadata.unwrap();
    assert!(k.arn().unwrap().starts_with("arn:aws:kms:us-east-1:000000000000:key/"));
    assert_eq!(k.multi_region(), Some(false));
    assert!(k.multi_region_configuration().is_none(), "single-Region keys have no MultiRegionConfiguration");
    let id = k.key_id().to_string();
    // The bare id in another region: AWS's text names that region's ARN.
    let e = err_of(west.describe_key().key_id(&id).send().await.unwrap_err());
    assert_eq!(
        e,
        ("NotFoundException".into(), format!("Key 'arn:aws:kms:us-west-2:000000000000:key/{id}' does not exist"))
    );
    // Another region's ARN.
    let e = err_of(west.describe_key().key_id(k.arn().unwrap()).send().await.unwrap_err());
    assert_eq!(e, ("NotFoundException".into(), "Invalid arn us-east-1".into()));
    // Aliases, key lists and grants are per region.
    let wk = west.create_key().send().await.unwrap().key_metadata.unwrap();
    assert!(wk.arn().unwrap().starts_with("arn:aws:kms:us-west-2:"));
    east.create_alias().alias_name("alias/app").target_key_id(&id).send().await.unwrap();
    west.create_alias().alias_name("alias/app").target_key_id(wk.key_id()).send().await.unwrap();
    let via = |c: &Sdk| c.describe_key().key_id("alias/app").send();
    assert_eq!(via(&east).await.unwrap().key_metadata.unwrap().key_id(), id);
    assert_eq!(via(&west).await.unwrap().key_metadata.unwrap().key_id(), wk.key_id());
    let aliases = west.list_aliases().send().await.unwrap();
    assert_eq!(aliases.aliases().len(), 1);
    assert!(aliases.aliases()[0].alias_arn().unwrap().starts_with("arn:aws:kms:us-west-2:"));
    let ids = |c: Sdk| async move {
        c.list_keys().send().await.unwrap().keys().iter().map(|k| k.key_id().unwrap().to_string()).collect::<Vec<_>>()
    };
    assert_eq!(ids(east.clone()).await, std::slice::from_ref(&id));
    assert_eq!(ids(west.clone()).await, [wk.key_id().to_string()]);
    // A ciphertext of one region does not decrypt in another.
    let blob = encrypt(&east, &id, b"x").await;
    assert_eq!(err_of(west.decrypt().ciphertext_blob(blob).send().await.unwrap_err()).0, "InvalidCiphertextException");
    // --dev serves any well-formed region, opened on first use.
    let far = dev_sdk(&server, "ap-southeast-5");
    assert!(far.list_keys().send().await.unwrap().keys().is_empty());
    server.shutdown().await;
}

#[tokio::test]
async fn regions_not_served_are_refused_and_old_data_stays_home() {
    let dir = tempfile::tempdir().unwrap();
    let mut ts = TestServer::start(dir.path()).await;
    let id = ts.sdk().create_key().send().await.unwrap().key_metadata.unwrap().key_id;
    ts.stop().await;
    // Restarted with several regions and another default: the existing
    // keys belong to the region the data directory was made for.
    let file = kms::config::parse_file("regions = [\"eu-west-1\", \"us-east-1\", \"us-west-2\"]").unwrap();
    let cfg = kms::config::Config::build(file, &overrides(dir.path())).unwrap();
    let server = kms::server::start(cfg).await.unwrap();
    let endpoint = format!("http://{}", server.addr);
    let c = |r: &str| sdk_client_in(&endpoint, &ts.access_key, &ts.secret, r);
    let m = c("us-east-1").describe_key().key_id(&id).send().await.unwrap().key_metadata.unwrap();
    assert!(m.arn().unwrap().starts_with("arn:aws:kms:us-east-1:"));
    assert!(c("eu-west-1").list_keys().send().await.unwrap().keys().is_empty());
    assert!(c("us-west-2").list_keys().send().await.unwrap().keys().is_empty());
    let e = err_of(c("ap-south-1").list_keys().send().await.unwrap_err());
    assert_eq!(
        e,
        (
            "InvalidSignatureException".into(),
            "Credential should be scoped to a valid region, not 'ap-south-1'. ".into()
        )
    );
    // STS answers in every served region, and only there.
    let sts = |r: &str| {
        kms::client::Client::new(
            &endpoint,
            r,
            kms::client::Credentials {
                access_key_id: ts.access_key.clone(),
                secret: kms_core::crypto::SecretString::new(ts.secret.clone()),
                session_token: None,
            },
        )
        .unwrap()
    };
    let now = now();
    for (region, status) in [("us-west-2", 200), ("ap-south-1", 403)] {
        let c = sts(region);
        let r = c.send(c.signed_query("Action=GetCallerIdentity&Version=2011-06-15", now).unwrap()).await.unwrap();
        assert_eq!(r.status, status, "{region}: {}", String::from_utf8_lossy(&r.body));
    }
    server.shutdown().await;
}

#[tokio::test]
async fn multi_region_keys_replicate_and_share_material() {
    let server = dev_server().await;
    let (east, west, eu) =
        (dev_sdk(&server, "us-east-1"), dev_sdk(&server, "us-west-2"), dev_sdk(&server, "eu-west-1"));
    let p = east
        .create_key()
        .multi_region(true)
        .description("primary")
        .tags(Tag::builder().tag_key("k").tag_value("p").build().unwrap())
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap();
    let id = p.key_id().to_string();
    assert!(id.starts_with("mrk-") && id.len() == 36, "{id}");
    assert_eq!(p.multi_region(), Some(true));
    let c = p.multi_region_configuration().unwrap();
    assert_eq!(c.multi_region_key_type(), Some(&MultiRegionKeyType::Primary));
    assert_eq!(c.primary_key().unwrap().region(), Some("us-east-1"));
    assert_eq!(c.primary_key().unwrap().arn(), p.arn());
    assert!(c.replica_keys().is_empty());

    // ReplicateKey answers with the replica Creating, then it is Enabled.
    let r = east
        .replicate_key()
        .key_id(&id)
        .replica_region("us-west-2")
        .description("replica")
        .tags(Tag::builder().tag_key("k").tag_value("r").build().unwrap())
        .send()
        .await
        .unwrap();
    let rm = r.replica_key_metadata().unwrap();
    assert_eq!(rm.key_state(), Some(&KeyState::Creating));
    assert!(!rm.enabled());
    assert_eq!(rm.arn(), Some(format!("arn:aws:kms:us-west-2:000000000000:key/{id}").as_str()));
    assert_eq!(rm.description(), Some("replica"));
    assert!(rm.current_key_material_id().is_none());
    // The default key policy, as AWS formats it (the model's example).
    let policy = r.replica_policy().unwrap();
    assert!(policy.starts_with("{\n  \"Version\" : \"2012-10-17\",\n  \"Id\" : \"key-default-1\","), "{policy}");
    assert!(policy.contains("arn:aws:iam::000000000000:root"));
    assert_eq!(r.replica_tags().len(), 1);
    let wm = wait_state(&west, &id, KeyState::Enabled).await;
    assert_eq!(west.get_key_policy().key_id(&id).send().await.unwrap().policy(), Some(policy));
    let wc = wm.multi_region_configuration().unwrap();
    assert_eq!(wc.multi_region_key_type(), Some(&MultiRegionKeyType::Replica));
    assert_eq!(wc.primary_key().unwrap().arn(), p.arn());
    assert_eq!(wc.replica_keys().len(), 1);
    assert_eq!(wc.replica_keys()[0].region(), Some("us-west-2"));
    assert_eq!(wm.current_key_material_id(), p.current_key_material_id());
    assert_eq!(wm.description(), Some("replica"));
    let pc = east.describe_key().key_id(&id).send().await.unwrap().key_metadata.unwrap();
    let replicas = pc.multi_region_configuration().unwrap().replica_keys();
    assert_eq!(replicas.iter().map(|k| k.region().unwrap()).collect::<Vec<_>>(), ["us-west-2"]);

    // Same material: what one region encrypts the other decrypts.
    let blob = encrypt(&east, &id, b"across regions").await;
    let (pt, key, _) = decrypt(&west, &blob).await;
    assert_eq!(pt, b"across regions");
    assert_eq!(key, format!("arn:aws:kms:us-west-2:000000000000:key/{id}"));
    let dk = west.generate_data_key().key_id(&id).number_of_bytes(32).send().await.unwrap();
    let (pt, _, _) = decrypt(&east, dk.ciphertext_blob.as_ref().unwrap()).await;
    assert_eq!(pt, dk.plaintext.unwrap().into_inner());

    // Independent properties stay per region.
    west.disable_key().key_id(&id).send().await.unwrap();
    assert_eq!(
        east.describe_key().key_id(&id).send().await.unwrap().key_metadata.unwrap().key_state(),
        Some(&KeyState::Enabled)
    );
    west.enable_key().key_id(&id).send().await.unwrap();
    west.create_alias().alias_name("alias/mrk").target_key_id(&id).send().await.unwrap();
    assert_eq!(err_of(east.describe_key().key_id("alias/mrk").send().await.unwrap_err()).0, "NotFoundException");
    let wtags = west.list_resource_tags().key_id(&id).send().await.unwrap();
    assert_eq!(wtags.tags()[0].tag_value(), "r");

    // The errors.
    let e = err_of(west.replicate_key().key_id(&id).replica_region("eu-west-1").send().await.unwrap_err());
    assert_eq!(
        e,
        (
            "UnsupportedOperationException".into(),
            format!("arn:aws:kms:us-west-2:000000000000:key/{id} is not a multi-region primary key.")
        )
    );
    let e = err_of(east.replicate_key().key_id(&id).replica_region("us-west-2").send().await.unwrap_err());
    assert_eq!(e.0, "AlreadyExistsException");
    let e = err_of(east.replicate_key().key_id(&id).replica_region("us-east-1").send().await.unwrap_err());
    assert_eq!(e.0, "AlreadyExistsException");
    let single = east.create_key().send().await.unwrap().key_metadata.unwrap();
    let e = err_of(east.replicate_key().key_id(single.key_id()).replica_region("eu-west-1").send().await.unwrap_err());
    assert_eq!(
        e,
        (
            "UnsupportedOperationException".into(),
            format!("{} is not a multi-region primary key.", single.arn().unwrap())
        )
    );
    let e = err_of(east.replicate_key().key_id(&id).replica_region("us-west").send().await.unwrap_err());
    assert_eq!(e.0, "ValidationException");
    let e = err_of(
        east.replicate_key()
            .key_id("mrk-00000000000000000000000000000000")
            .replica_region("eu-west-1")
            .send()
            .await
            .unwrap_err(),
    );
    assert_eq!(e.0, "NotFoundException");
    let e = err_of(
        east.replicate_key().key_id(&id).replica_region("eu-west-1").policy("{not json").send().await.unwrap_err(),
    );
    assert_eq!(e.0, "MalformedPolicyDocumentException");
    let e = err_of(
        east.replicate_key()
            .key_id(&id)
            .replica_region("eu-west-1")
            .tags(Tag::builder().tag_key("aws:x").tag_value("v").build().unwrap())
            .send()
            .await
            .unwrap_err(),
    );
    assert_eq!(e.0, "TagException");
    east.disable_key().key_id(&id).send().await.unwrap();
    let e = err_of(east.replicate_key().key_id(&id).replica_region("eu-west-1").send().await.unwrap_err());
    assert_eq!(e.0, "DisabledException");
    east.enable_key().key_id(&id).send().await.unwrap();

    // Rotation is shared: set on the primary, refused on a replica, and a
    // rotation of the primary reaches every replica.
    let e = err_of(west.enable_key_rotation().key_id(&id).send().await.unwrap_err());
    assert_eq!(e.0, "UnsupportedOperationException");
    assert_eq!(
        err_of(west.rotate_key_on_demand().key_id(&id).send().await.unwrap_err()).0,
        "UnsupportedOperationException"
    );
    east.enable_key_rotation().key_id(&id).rotation_period_in_days(180).send().await.unwrap();
    east.replicate_key().key_id(&id).replica_region("eu-west-1").send().await.unwrap();
    wait_state(&eu, &id, KeyState::Enabled).await;
    for c in [&west, &eu] {
        let mut ok = false;
        for _ in 0..100 {
            let s = c.get_key_rotation_status().key_id(&id).send().await.unwrap();
            if s.key_rotation_enabled() && s.rotation_period_in_days() == Some(180) {
                ok = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(ok, "the replica shows the primary's rotation");
    }
    east.rotate_key_on_demand().key_id(&id).send().await.unwrap();
    let mut rotated = None;
    for _ in 0..100 {
        let m = east.describe_key().key_id(&id).send().await.unwrap().key_metadata.unwrap();
        let w = west.describe_key().key_id(&id).send().await.unwrap().key_metadata.unwrap();
        if m.current_key_material_id() != p.current_key_material_id()
            && w.current_key_material_id() == m.current_key_material_id()
        {
            rotated = m.current_key_material_id().map(str::to_string);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let new_material = rotated.expect("the rotation reached the replica");
    let listed = eu.list_key_rotations().key_id(&id).send().await.unwrap();
    assert_eq!(listed.rotations().len(), 1, "the replica lists the primary's rotation");
    let blob2 = encrypt(&eu, &id, b"after rotation").await;
    let (pt, _, mid) = decrypt(&east, &blob2).await;
    assert_eq!((pt.as_slice(), mid.as_str()), (&b"after rotation"[..], new_material.as_str()));
    // The old ciphertext still decrypts everywhere.
    assert_eq!(decrypt(&eu, &blob).await.0, b"across regions");
    // A year later the scheduled rotation of the primary reaches them too.
    assert_eq!(advance(&server, 181 * DAY).await.status, 200);
    let mut n = 0;
    for _ in 0..100 {
        n = eu.list_key_rotations().key_id(&id).send().await.unwrap().rotations().len();
        if n == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(n, 2);
    server.shutdown().await;
}

#[tokio::test]
async fn primary_region_moves_and_deletion_waits_for_replicas() {
    let server = dev_server().await;
    let (east, west) = (dev_sdk(&server, "us-east-1"), dev_sdk(&server, "us-west-2"));
    let id = east.create_key().multi_region(true).send().await.unwrap().key_metadata.unwrap().key_id;
    east.replicate_key().key_id(&id).replica_region("us-west-2").send().await.unwrap();
    wait_state(&west, &id, KeyState::Enabled).await;

    // UpdatePrimaryRegion: errors first.
    let e = err_of(west.update_primary_region().key_id(&id).primary_region("us-east-1").send().await.unwrap_err());
    assert_eq!(e.0, "UnsupportedOperationException");
    let e = err_of(east.update_primary_region().key_id(&id).primary_region("eu-west-1").send().await.unwrap_err());
    assert_eq!(
        e,
        ("NotFoundException".into(), format!("Key 'arn:aws:kms:eu-west-1:000000000000:key/{id}' does not exist"))
    );
    west.disable_key().key_id(&id).send().await.unwrap();
    let e = err_of(east.update_primary_region().key_id(&id).primary_region("us-west-2").send().await.unwrap_err());
    assert_eq!(e.0, "DisabledException");
    west.enable_key().key_id(&id).send().await.unwrap();

    east.update_primary_region().key_id(&id).primary_region("us-west-2").send().await.unwrap();
    let w = wait_state(&west, &id, KeyState::Enabled).await;
    let e = wait_state(&east, &id, KeyState::Enabled).await;
    assert_eq!(w.multi_region_configuration().unwrap().multi_region_key_type(), Some(&MultiRegionKeyType::Primary));
    assert_eq!(e.multi_region_configuration().unwrap().multi_region_key_type(), Some(&MultiRegionKeyType::Replica));
    assert_eq!(e.multi_region_configuration().unwrap().primary_key().unwrap().region(), Some("us-west-2"));
    let replicas: Vec<_> = w
        .multi_region_configuration()
        .unwrap()
        .replica_keys()
        .iter()
        .map(|k| k.region().unwrap().to_string())
        .collect();
    assert_eq!(replicas, ["us-east-1"]);
    // The new primary rotates; the old one now follows.
    assert_eq!(
        err_of(east.enable_key_rotation().key_id(&id).send().await.unwrap_err()).0,
        "UnsupportedOperationException"
    );
    west.enable_key_rotation().key_id(&id).send().await.unwrap();

    // Deleting a primary with replicas waits for them.
    let d = west.schedule_key_deletion().key_id(&id).pending_window_in_days(7).send().await.unwrap();
    assert_eq!(d.key_state(), Some(&KeyState::PendingReplicaDeletion));
    assert!(d.deletion_date().is_none());
    assert_eq!(d.pending_window_in_days(), Some(7));
    let m = west.describe_key().key_id(&id).send().await.unwrap().key_metadata.unwrap();
    assert_eq!(m.key_state(), Some(&KeyState::PendingReplicaDeletion));
    assert_eq!(m.pending_deletion_window_in_days(), Some(7));
    assert!(m.deletion_date().is_none());
    let e = err_of(west.encrypt().key_id(&id).plaintext(Blob::new(b"x")).send().await.unwrap_err());
    assert_eq!(
        e,
        (
            "KMSInvalidStateException".into(),
            format!("arn:aws:kms:us-west-2:000000000000:key/{id} is pending replica deletion.")
        )
    );
    let e = err_of(west.replicate_key().key_id(&id).replica_region("eu-west-1").send().await.unwrap_err());
    assert_eq!(e.0, "KMSInvalidStateException");
    // Cancelling brings it back Disabled, as for any key.
    west.cancel_key_deletion().key_id(&id).send().await.unwrap();
    wait_state(&west, &id, KeyState::Disabled).await;
    west.schedule_key_deletion().key_id(&id).pending_window_in_days(7).send().await.unwrap();
    // The replica has its own window; when it is destroyed the primary's starts.
    let d = east.schedule_key_deletion().key_id(&id).pending_window_in_days(7).send().await.unwrap();
    assert_eq!(d.key_state(), Some(&KeyState::PendingDeletion));
    assert!(d.deletion_date().is_some());
    assert_eq!(advance(&server, 8 * DAY).await.status, 200);
    let mut gone = false;
    for _ in 0..100 {
        if east.describe_key().key_id(&id).send().await.is_err() {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(gone, "the replica is destroyed");
    let m = wait_state(&west, &id, KeyState::PendingDeletion).await;
    assert!(m.deletion_date().is_some());
    assert!(m.multi_region_configuration().unwrap().replica_keys().is_empty());
    assert_eq!(advance(&server, 8 * DAY).await.status, 200);
    assert_eq!(err_of(west.describe_key().key_id(&id).send().await.unwrap_err()).0, "NotFoundException");
    server.shutdown().await;
}

#[tokio::test]
async fn imported_multi_region_keys_import_the_same_material_everywhere() {
    use crate::lifecycle::{import, try_import};
    use aws_sdk_kms::types::{KeySpec, KeyUsageType, OriginType};
    let server = dev_server().await;
    let (east, west) = (dev_sdk(&server, "us-east-1"), dev_sdk(&server, "us-west-2"));
    let id = east
        .create_key()
        .multi_region(true)
        .origin(OriginType::External)
        .key_spec(KeySpec::SymmetricDefault)
        .key_usage(KeyUsageType::EncryptDecrypt)
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .key_id;
    // Replicated before it has material: the replica waits for its own import.
    east.replicate_key().key_id(&id).replica_region("us-west-2").send().await.unwrap();
    wait_state(&west, &id, KeyState::PendingImport).await;
    let material = [7u8; 32];
    let mid = import(&east, &id, &material, None).await.unwrap();
    // Other bytes than the primary's are refused in the replica.
    assert_eq!(try_import(&west, &id, &[8u8; 32], None).await.unwrap_err(), "IncorrectKeyMaterialException");
    assert_eq!(import(&west, &id, &material, None).await.unwrap(), mid, "same bytes, same material id");
    wait_state(&west, &id, KeyState::Enabled).await;
    let blob = encrypt(&east, &id, b"imported").await;
    let (pt, _, got) = decrypt(&west, &blob).await;
    assert_eq!((pt.as_slice(), got.as_str()), (&b"imported"[..], mid.as_str()));
    server.shutdown().await;
}

#[tokio::test]
async fn asymmetric_and_hmac_multi_region_keys_share_their_key_pairs() {
    use aws_sdk_kms::types::{KeySpec, KeyUsageType, MacAlgorithmSpec};
    let server = dev_server().await;
    let (east, west) = (dev_sdk(&server, "us-east-1"), dev_sdk(&server, "us-west-2"));
    let create = |spec: KeySpec, usage: KeyUsageType| {
        east.create_key().multi_region(true).key_spec(spec).key_usage(usage).send()
    };
    let sign = create(KeySpec::EccNistP256, KeyUsageType::SignVerify).await.unwrap().key_metadata.unwrap().key_id;
    let mac = create(KeySpec::Hmac256, KeyUsageType::GenerateVerifyMac).await.unwrap().key_metadata.unwrap().key_id;
    for id in [&sign, &mac] {
        east.replicate_key().key_id(id).replica_region("us-west-2").send().await.unwrap();
        wait_state(&west, id, KeyState::Enabled).await;
    }
    use crate::asymmetric::{public_key, sign as sign_with, verify};
    assert_eq!(public_key(&east, &sign).await, public_key(&west, &sign).await);
    let sig = sign_with(&east, &sign, "ECDSA_SHA_256", "RAW", b"signed in A").await.unwrap();
    verify(&west, &sign, "ECDSA_SHA_256", "RAW", b"signed in A", &sig).await.unwrap();
    let tag = east
        .generate_mac()
        .key_id(&mac)
        .message(Blob::new(b"m"))
        .mac_algorithm(MacAlgorithmSpec::HmacSha256)
        .send()
        .await
        .unwrap()
        .mac
        .unwrap();
    let ok = west
        .verify_mac()
        .key_id(&mac)
        .message(Blob::new(b"m"))
        .mac_algorithm(MacAlgorithmSpec::HmacSha256)
        .mac(tag)
        .send()
        .await
        .unwrap();
    assert!(ok.mac_valid());
    server.shutdown().await;
}
