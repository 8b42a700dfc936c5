//! Two servers, each serving its own region, replicating multi-Region keys
//! between them through a capturing TCP proxy: replicas, shared material,
//! rotations, a peer down during ReplicateKey, UpdatePrimaryRegion, and
//! what crosses the wire and lands on disk (never the plaintext material).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{KeyState, MultiRegionKeyType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::harness::*;
use crate::regions::wait_state;

/// A TCP proxy to a target that can move (a restarted server), keeping
/// every byte it forwards.
struct Proxy {
    addr: SocketAddr,
    target: Arc<Mutex<SocketAddr>>,
    seen: Arc<Mutex<Vec<u8>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    async fn start(target: SocketAddr, seen: Arc<Mutex<Vec<u8>>>) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let target = Arc::new(Mutex::new(target));
        let (t, s) = (target.clone(), seen.clone());
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let to = *t.lock().unwrap();
                let s = s.clone();
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(to).await else { return };
                    let (cr, cw) = client.into_split();
                    let (sr, sw) = server.into_split();
                    tokio::join!(pipe(cr, sw, s.clone()), pipe(sr, cw, s));
                });
            }
        });
        Proxy { addr, target, seen, task }
    }
}

async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    seen: Arc<Mutex<Vec<u8>>>,
) {
    let mut buf = [0u8; 16384];
    while let Ok(n) = from.read(&mut buf).await {
        if n == 0 || to.write_all(&buf[..n]).await.is_err() {
            break;
        }
        seen.lock().unwrap().extend_from_slice(&buf[..n]);
    }
    let _ = to.shutdown().await;
}

fn config(region: &str, peer_region: &str, peer: SocketAddr, secret_file: &Path) -> kms::config::FileConfig {
    kms::config::parse_file(&format!(
        "region = \"{region}\"\n[peers]\nsecret_file = \"{}\"\ntimeout_secs = 2\n[peers.regions]\n{peer_region} = \"http://{peer}\"\n",
        secret_file.display()
    ))
    .unwrap()
}

/// Every key material of `dir`'s store, opened with its root key.
fn materials(dir: &Path) -> Vec<Vec<u8>> {
    let root = std::fs::read_to_string(dir.join(kms::root::ROOT_KEY_FILE)).unwrap();
    let root = kms_core::crypto::RootKey::from_encoded(&root).unwrap();
    let store = kms_store::RedbStore::open(&dir.join(kms::server::DB_FILE)).unwrap();
    let rt = tokio::runtime::Handle::current();
    let mut out = vec![];
    tokio::task::block_in_place(|| {
        rt.block_on(async {
            use kms_core::ports::Store;
            for id in store.list_key_ids("111122223333", None, 100).await.unwrap() {
                let rec = store.get_key(&id).await.unwrap().unwrap();
                for m in rec.materials.iter().filter(|m| m.present()) {
                    let binding = kms_core::types::KeyRecord::material_binding(&rec.key_id, &m.id);
                    out.push(root.open(&binding, &m.sealed).unwrap().expose().to_vec());
                }
            }
        })
    });
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_replicate_multi_region_keys() {
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let work = tempfile::tempdir().unwrap();
    let secret = work.path().join("peer.secret");
    std::fs::write(&secret, "a peer secret of this deployment, long enough\n").unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    // A's peer B is behind one proxy, B's peer A behind another.
    let placeholder: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let to_b = Proxy::start(placeholder, seen.clone()).await;
    let to_a = Proxy::start(placeholder, seen.clone()).await;
    let mut a = TestServer::start_configured(
        dir_a.path(),
        config("us-east-1", "eu-west-1", to_b.addr, &secret),
        overrides(dir_a.path()),
    )
    .await;
    *to_a.target.lock().unwrap() = a.addr();
    let mut b = TestServer::start_configured(
        dir_b.path(),
        config("eu-west-1", "us-east-1", to_a.addr, &secret),
        overrides(dir_b.path()),
    )
    .await;
    *to_b.target.lock().unwrap() = b.addr();
    // Each server has its own identities; the account is the same.
    let ka = sdk_client_in(&a.endpoint(), &a.access_key, &a.secret, "us-east-1");
    let kb = |b: &TestServer| sdk_client_in(&b.endpoint(), &b.access_key, &b.secret, "eu-west-1");

    let id = ka.create_key().multi_region(true).send().await.unwrap().key_metadata.unwrap().key_id;
    let r = ka.replicate_key().key_id(&id).replica_region("eu-west-1").description("in B").send().await.unwrap();
    assert_eq!(r.replica_key_metadata().unwrap().key_state(), Some(&KeyState::Creating));
    let m = wait_state(&kb(&b), &id, KeyState::Enabled).await;
    assert_eq!(m.description(), Some("in B"));
    let c = m.multi_region_configuration().unwrap();
    assert_eq!(c.multi_region_key_type(), Some(&MultiRegionKeyType::Replica));
    assert_eq!(c.primary_key().unwrap().region(), Some("us-east-1"));

    // Encrypted in A, decrypted in B (and the other way).
    let blob = ka.encrypt().key_id(&id).plaintext(Blob::new(b"from A")).send().await.unwrap().ciphertext_blob.unwrap();
    let d = kb(&b).decrypt().ciphertext_blob(blob.clone()).send().await.unwrap();
    assert_eq!(d.plaintext.unwrap().as_ref(), b"from A");
    let blob_b =
        kb(&b).encrypt().key_id(&id).plaintext(Blob::new(b"from B")).send().await.unwrap().ciphertext_blob.unwrap();
    assert_eq!(ka.decrypt().ciphertext_blob(blob_b).send().await.unwrap().plaintext.unwrap().as_ref(), b"from B");

    // A rotation in A reaches B.
    ka.rotate_key_on_demand().key_id(&id).send().await.unwrap();
    let mut same = false;
    for _ in 0..100 {
        let ma = ka.describe_key().key_id(&id).send().await.unwrap().key_metadata.unwrap();
        let mb = kb(&b).describe_key().key_id(&id).send().await.unwrap().key_metadata.unwrap();
        if ma.current_key_material_id() != m.current_key_material_id()
            && ma.current_key_material_id() == mb.current_key_material_id()
        {
            same = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(same, "the rotation reached B");
    assert_eq!(kb(&b).list_key_rotations().key_id(&id).send().await.unwrap().rotations().len(), 1);

    // B down during ReplicateKey: A answers, keeps the replica Creating, and
    // completes it when B is back.
    let id2 = ka.create_key().multi_region(true).send().await.unwrap().key_metadata.unwrap().key_id;
    b.stop().await;
    let r = ka.replicate_key().key_id(&id2).replica_region("eu-west-1").send().await.unwrap();
    assert_eq!(r.replica_key_metadata().unwrap().key_state(), Some(&KeyState::Creating));
    let listed = ka.describe_key().key_id(&id2).send().await.unwrap().key_metadata.unwrap();
    assert_eq!(listed.multi_region_configuration().unwrap().replica_keys().len(), 1);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // A restarts too while B is down: the pending replica is in A's store.
    a.stop().await;
    a = TestServer::start_configured(
        dir_a.path(),
        config("us-east-1", "eu-west-1", to_b.addr, &secret),
        overrides(dir_a.path()),
    )
    .await;
    *to_a.target.lock().unwrap() = a.addr();
    let ka = sdk_client_in(&a.endpoint(), &a.access_key, &a.secret, "us-east-1");
    b = TestServer::start_configured(
        dir_b.path(),
        config("eu-west-1", "us-east-1", to_a.addr, &secret),
        overrides(dir_b.path()),
    )
    .await;
    *to_b.target.lock().unwrap() = b.addr();
    let mut made = false;
    for _ in 0..200 {
        if let Ok(d) = kb(&b).describe_key().key_id(&id2).send().await {
            if d.key_metadata.unwrap().key_state() == Some(&KeyState::Enabled) {
                made = true;
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(made, "the replica was made once B came back");

    // UpdatePrimaryRegion moves the primary to B.
    ka.update_primary_region().key_id(&id).primary_region("eu-west-1").send().await.unwrap();
    let mut primary = false;
    for _ in 0..100 {
        let mb = kb(&b).describe_key().key_id(&id).send().await.unwrap().key_metadata.unwrap();
        let kind = mb.multi_region_configuration().unwrap().multi_region_key_type().cloned();
        if kind == Some(MultiRegionKeyType::Primary) && mb.key_state() == Some(&KeyState::Enabled) {
            primary = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(primary, "B's key became the primary");
    let ma = wait_state(&ka, &id, KeyState::Enabled).await;
    assert_eq!(ma.multi_region_configuration().unwrap().multi_region_key_type(), Some(&MultiRegionKeyType::Replica));
    // The new primary's changes flow back to A.
    kb(&b).enable_key_rotation().key_id(&id).rotation_period_in_days(90).send().await.unwrap();
    let mut followed = false;
    for _ in 0..100 {
        if ka.get_key_rotation_status().key_id(&id).send().await.unwrap().rotation_period_in_days() == Some(90) {
            followed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(followed, "A follows its new primary in B");

    a.stop().await;
    b.stop().await;
    to_a.task.abort();
    to_b.task.abort();
    // The peer traffic and B's data directory never hold a plaintext material.
    let wire = seen.lock().unwrap().clone();
    assert!(wire.windows(id.len()).any(|w| w == id.as_bytes()), "the proxy saw the peer traffic");
    let all = materials(dir_a.path());
    assert!(all.len() >= 3, "{} materials", all.len());
    assert_eq!(materials(dir_b.path()).len(), all.len(), "B holds the same materials");
    for m in &all {
        assert!(!wire.windows(m.len()).any(|w| w == m.as_slice()), "a plaintext material crossed the wire");
        assert!(
            crate::storage::files_contain(dir_b.path(), m).is_empty(),
            "a plaintext material in B's data directory"
        );
    }
    let _ = (&to_a.seen, &to_b.seen);
}
