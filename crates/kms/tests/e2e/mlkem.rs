//! ML-KEM keys (FIPS 203) through the official client, checked against an
//! independent implementation: kyber-py in the workspace's `.venv`
//! (scripts/requirements.txt; scripts/test.sh creates it).

use std::path::{Path, PathBuf};
use std::process::Command;

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{DataKeyPairSpec, EncapsulationAlgorithmSpec, GrantOperation, KeySpec, KeyUsageType};

use crate::harness::*;

fn python() -> PathBuf {
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python");
    let ok =
        Command::new(&python).args(["-c", "import kyber_py.ml_kem.pkcs"]).output().is_ok_and(|o| o.status.success());
    assert!(ok, "{} with kyber-py is missing: run scripts/test.sh (it creates .venv)", python.display());
    python
}

/// Runs `script` with kyber-py; `args` are hex strings, the output is hex lines.
fn kyber(script: &str, args: &[&[u8]]) -> Vec<Vec<u8>> {
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let prelude = "import sys\nfrom kyber_py import ml_kem\nfrom kyber_py.ml_kem import pkcs\n\
                   a = [bytes.fromhex(x) for x in sys.argv[1:]]\nout = lambda *bs: print('\\n'.join(b.hex() for b in bs))\n";
    let out = Command::new(python())
        .arg("-c")
        .arg(format!("{prelude}{script}"))
        .args(args.iter().map(|a| hex(a)))
        .output()
        .unwrap();
    assert!(out.status.success(), "kyber-py: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| (0..l.len()).step_by(2).map(|i| u8::from_str_radix(&l[i..i + 2], 16).unwrap()).collect())
        .collect()
}

#[tokio::test]
async fn ml_kem_keys_interoperate_with_kyber_py() {
    let dir = tempfile::tempdir().unwrap();
    let mut ts = TestServer::start(dir.path()).await;
    let kms = ts.sdk();
    for (spec, ct_len) in [(KeySpec::MlKem512, 768), (KeySpec::MlKem768, 1088), (KeySpec::MlKem1024, 1568)] {
        let md = kms
            .create_key()
            .key_spec(spec.clone())
            .key_usage(KeyUsageType::EncapsulateDecapsulate)
            .send()
            .await
            .unwrap()
            .key_metadata
            .unwrap();
        assert_eq!(md.encapsulation_algorithms(), &[EncapsulationAlgorithmSpec::MlKem]);
        let pk = kms.get_public_key().key_id(md.key_id()).send().await.unwrap();
        let spki = pk.public_key().unwrap().as_ref().to_vec();

        // kyber-py reads our SPKI, encapsulates; the service decapsulates to the same secret.
        let theirs = kyber("k, ek = pkcs.ek_from_der(a[0])\nss, ct = k.encaps(ek)\nout(ss, ct)", &[&spki]);
        let (their_ss, their_ct) = (&theirs[0], &theirs[1]);
        assert_eq!(their_ct.len(), ct_len);
        let out = kms
            .decapsulate()
            .key_id(md.key_id())
            .encapsulation_algorithm(EncapsulationAlgorithmSpec::MlKem)
            .shared_secret_ciphertext_blob(Blob::new(their_ct.clone()))
            .send()
            .await
            .unwrap();
        assert_eq!(out.shared_secret().unwrap().as_ref(), their_ss.as_slice(), "{spec:?}");
        assert_eq!(out.key_id(), md.arn());

        // The service encapsulates; its own decapsulation agrees, and a
        // changed ciphertext gives another secret, not an error (implicit rejection).
        let enc = kms
            .encapsulate()
            .key_id(md.key_id())
            .encapsulation_algorithm(EncapsulationAlgorithmSpec::MlKem)
            .send()
            .await
            .unwrap();
        let ct = enc.shared_secret_ciphertext_blob().unwrap().as_ref().to_vec();
        assert_eq!((ct.len(), enc.shared_secret().unwrap().as_ref().len()), (ct_len, 32));
        let dec = |ct: Vec<u8>| {
            kms.decapsulate()
                .key_id(md.key_id())
                .encapsulation_algorithm(EncapsulationAlgorithmSpec::MlKem)
                .shared_secret_ciphertext_blob(Blob::new(ct))
                .send()
        };
        let same = dec(ct.clone()).await.unwrap();
        assert_eq!(same.shared_secret(), enc.shared_secret());
        let mut changed = ct.clone();
        changed[0] ^= 1;
        let other = dec(changed).await.unwrap();
        assert_ne!(other.shared_secret(), enc.shared_secret());
        let e = dec(ct[..ct.len() - 1].to_vec()).await.unwrap_err();
        assert_eq!(err_of(e).0, "InvalidCiphertextException");
    }

    // Data key pairs: the private key (PKCS#8, seed form) decapsulates in
    // kyber-py what we encapsulated to the public key.
    let wrap = kms.create_key().send().await.unwrap().key_metadata.unwrap();
    let pair = kms
        .generate_data_key_pair()
        .key_id(wrap.key_id())
        .key_pair_spec(DataKeyPairSpec::MlKem768)
        .send()
        .await
        .unwrap();
    let private = pair.private_key_plaintext().unwrap().as_ref().to_vec();
    assert_eq!(private.len(), 86, "seed-form PKCS#8");
    let public = pair.public_key().unwrap().as_ref().to_vec();
    let (ct, ss) =
        kms_crypto::encapsulate(kms_crypto::KeySpec::MlKem768, &public, kms_crypto::EncapsulationAlgorithm::MlKem)
            .unwrap();
    let theirs = kyber("k, dk, seed, ek = pkcs.dk_from_der(a[0])\nout(k.decaps(dk, a[1]), ek)", &[&private, &ct]);
    assert_eq!(theirs[0], ss.expose());
    assert_eq!(theirs[1], public[22..], "the private key's public key is the pair's");
    ts.stop().await;
}

#[tokio::test]
async fn ml_kem_errors_grants_and_last_usage() {
    let dir = tempfile::tempdir().unwrap();
    let mut ts = TestServer::start(dir.path()).await;
    let kms = ts.sdk();
    let kem = kms
        .create_key()
        .key_spec(KeySpec::MlKem768)
        .key_usage(KeyUsageType::EncapsulateDecapsulate)
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap();
    let sym = kms.create_key().send().await.unwrap().key_metadata.unwrap();
    let e = kms
        .encapsulate()
        .key_id(sym.key_id())
        .encapsulation_algorithm(EncapsulationAlgorithmSpec::MlKem)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err_of(e),
        (
            "InvalidKeyUsageException".into(),
            format!("{} key usage is ENCRYPT_DECRYPT which is not valid for Encapsulate.", sym.arn().unwrap())
        )
    );
    let e = kms.encrypt().key_id(kem.key_id()).plaintext(Blob::new(b"x".to_vec())).send().await.unwrap_err();
    assert_eq!(
        err_of(e),
        (
            "InvalidKeyUsageException".into(),
            format!("{} key usage is ENCAPSULATE_DECAPSULATE which is not valid for Encrypt.", kem.arn().unwrap())
        )
    );
    let e = kms
        .decapsulate()
        .key_id(kem.key_id())
        .encapsulation_algorithm(EncapsulationAlgorithmSpec::from("FOO"))
        .shared_secret_ciphertext_blob(Blob::new(vec![0; 1088]))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err_of(e),
        (
            "ValidationException".into(),
            "1 validation error detected: Value 'FOO' at 'encapsulationAlgorithm' failed to satisfy constraint: Member must satisfy enum value set: [ML_KEM]".into()
        )
    );
    let e = kms
        .encapsulate()
        .key_id(kem.key_id())
        .encapsulation_algorithm(EncapsulationAlgorithmSpec::MlKem)
        .dry_run(true)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_of(e).0, "DryRunOperationException");

    // Grants: Encapsulate and Decapsulate are grant operations of an ML-KEM
    // key; Sign is not.
    let admin = ts.raw();
    let (ak, sk) = create_user(&admin, "bob", None).await;
    let bob_arn = "arn:aws:iam::111122223333:user/bob";
    let bob = sdk_client(&ts.endpoint(), &ak, &sk);
    let e = kms
        .create_grant()
        .key_id(kem.key_id())
        .grantee_principal(bob_arn)
        .operations(GrantOperation::Sign)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_of(e).0, "ValidationException");
    let g = kms
        .create_grant()
        .key_id(kem.key_id())
        .grantee_principal(bob_arn)
        .operations(GrantOperation::Encapsulate)
        .operations(GrantOperation::Decapsulate)
        .send()
        .await
        .unwrap();
    let enc = bob
        .encapsulate()
        .key_id(kem.arn().unwrap())
        .encapsulation_algorithm(EncapsulationAlgorithmSpec::MlKem)
        .grant_tokens(g.grant_token().unwrap())
        .send()
        .await
        .unwrap();
    let dec = bob
        .decapsulate()
        .key_id(kem.arn().unwrap())
        .encapsulation_algorithm(EncapsulationAlgorithmSpec::MlKem)
        .shared_secret_ciphertext_blob(enc.shared_secret_ciphertext_blob().unwrap().clone())
        .send()
        .await
        .unwrap();
    assert_eq!(dec.shared_secret(), enc.shared_secret());
    let e = bob.get_public_key().key_id(kem.arn().unwrap()).send().await.unwrap_err();
    assert_eq!(err_of(e).0, "AccessDeniedException");

    let used = kms.get_key_last_usage().key_id(kem.key_id()).send().await.unwrap();
    assert_eq!(used.key_last_usage().and_then(|u| u.operation()).map(|o| o.as_str()), Some("Decapsulate"));
    ts.stop().await;
}
