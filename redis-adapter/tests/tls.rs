//! `rediss://` against a real `redis-server` with TLS only (no plain port): a private CA, a
//! server certificate and client certificates made here with rcgen, in a temporary directory.
//! Replicas that trust the CA share their breakers; one that does not is degraded and its calls
//! are unaffected; mutual TLS works with a client certificate and is degraded without one.

mod support;

#[cfg(feature = "tls")]
mod with_tls {
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    use breaker_redis::{Fleet, FleetBuilder, FleetError, FleetState, Mode};
    use breaker_tokio::{Breaker, Config, State, Transition};
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
        KeyUsagePurpose,
    };

    use crate::support::{eventually, RedisServer};

    const RECOVERY: Duration = Duration::from_secs(30);
    const SOON: Duration = Duration::from_secs(5);

    /// A certificate authority: its certificate (PEM) and what signs with it.
    struct Ca {
        pem: String,
        issuer: Issuer<'static, KeyPair>,
    }

    fn new_ca(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages =
            vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        Ca { pem: cert.pem(), issuer: Issuer::new(params, key) }
    }

    /// A certificate `ca` signed for `names` (host names or IP addresses), and its key (PEM).
    struct Leaf {
        cert: String,
        key: String,
    }

    fn leaf(ca: &Ca, names: &[&str], usage: ExtendedKeyUsagePurpose) -> Leaf {
        let mut params =
            CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>()).unwrap();
        params.distinguished_name.push(DnType::CommonName, names[0]);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
        params.extended_key_usages = vec![usage];
        params.use_authority_key_identifier_extension = true;
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &ca.issuer).unwrap();
        Leaf { cert: cert.pem(), key: key.serialize_pem() }
    }

    fn server_cert(ca: &Ca) -> Leaf {
        leaf(ca, &["127.0.0.1", "localhost"], ExtendedKeyUsagePurpose::ServerAuth)
    }

    fn client_cert(ca: &Ca, id: &str) -> Leaf {
        leaf(ca, &[id], ExtendedKeyUsagePurpose::ClientAuth)
    }

    /// The server's files, in a temporary directory removed with it.
    struct Files(PathBuf);

    impl Files {
        fn new() -> Files {
            static N: AtomicU32 = AtomicU32::new(0);
            let n = N.fetch_add(1, Ordering::Relaxed);
            let dir = std::env::temp_dir().join(format!("breaker-redis-tls-{}-{n}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            Files(dir)
        }

        fn write(&self, name: &str, pem: &str) -> String {
            let path = self.0.join(name);
            std::fs::write(&path, pem).unwrap();
            path.to_str().unwrap().to_owned()
        }
    }

    impl Drop for Files {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// A TLS-only redis-server with `cert` (signed by `ca`); client certificates required
    /// (signed by `ca`) when `auth_clients`.
    fn tls_server(ca: &Ca, cert: &Leaf, auth_clients: bool) -> (RedisServer, Files) {
        let files = Files::new();
        let cert_file = files.write("server.crt", &cert.cert);
        let key_file = files.write("server.key", &cert.key);
        let ca_file = files.write("ca.crt", &ca.pem);
        let redis = RedisServer::start_tls(&[
            "--tls-cert-file",
            &cert_file,
            "--tls-key-file",
            &key_file,
            "--tls-ca-cert-file",
            &ca_file,
            "--tls-auth-clients",
            if auth_clients { "yes" } else { "no" },
        ]);
        assert!(redis.url().starts_with("rediss://127.0.0.1:"), "{}", redis.url());
        (redis, files)
    }

    struct Replica {
        db: &'static Breaker,
        fleet: Fleet,
        /// Transitions of `db` into OPEN, however caused (trips and fleet restores).
        opened: Arc<AtomicU32>,
    }

    /// A replica sharing `db` in any mode, its builder's TLS settings from `tls`.
    fn replica(url: &str, id: &str, tls: impl FnOnce(FleetBuilder) -> FleetBuilder) -> Replica {
        let opened = Arc::new(AtomicU32::new(0));
        let o = Arc::clone(&opened);
        let registry = breaker_tokio::registry()
            .configure("db", Config::new().failure_threshold(2).recovery_timeout(RECOVERY))
            .on_transition(move |_, t: &Transition| {
                if t.to == State::Open {
                    o.fetch_add(1, Ordering::Relaxed);
                }
            })
            .build()
            .unwrap();
        let db = registry.breaker("db").unwrap();
        let builder = Fleet::builder(url)
            .replica_id(id)
            .share(db, Mode::Any)
            // Longer than every test: a record a replica gets came by pub/sub (over TLS too),
            // or with the snapshot taken as it connected.
            .snapshot_period(Duration::from_secs(20))
            // A TLS handshake on a loaded 2-core CI machine can take a while: a timeout here
            // would count a store error the assertions below do not expect.
            .op_timeout(Duration::from_secs(2))
            .reconnect_interval(Duration::from_millis(100));
        let fleet = tls(builder).start().unwrap();
        Replica { db, fleet, opened }
    }

    fn trip(b: &Breaker) {
        for _ in 0..2 {
            let _ = b.call(|| Err::<(), _>("connection refused"));
        }
        assert_eq!(b.state(), State::Open);
    }

    async fn connected(rs: &[&Replica]) {
        eventually(SOON, "replicas connected over TLS", || rs.iter().all(|r| !r.fleet.is_degraded())).await;
    }

    /// A replica that cannot get through the TLS handshake: degraded, store errors counted and
    /// growing (it keeps retrying), its calls its own breaker's, its trip nobody else's.
    async fn stays_degraded(r: &Replica, others: &[&Replica]) {
        eventually(SOON, "store errors counted", || r.fleet.stats().store_errors >= 2).await;
        let h = r.fleet.health();
        assert!(h.degraded, "{h:?}");
        assert_eq!(r.db.call(|| Ok::<_, ()>(7)), Ok(7));
        trip(r.db);
        tokio::time::sleep(Duration::from_millis(600)).await;
        for o in others {
            assert_eq!(o.db.state(), State::Closed, "{:?}", o.fleet.health());
        }
        let later = r.fleet.health();
        assert!(later.degraded, "{later:?}");
        assert!(later.stats.store_errors > h.stats.store_errors, "{later:?}");
        assert_eq!(later.stats.published, 0);
        assert_eq!(later.breakers[0].fleet_state, None);
        assert_eq!(r.db.state(), State::Open); // its own trip, locally
    }

    /// A plain `redis://` client on the TLS port gets no answer: the traffic above was TLS.
    async fn no_plain_text(redis: &RedisServer) {
        let plain = redis::Client::open(format!("redis://127.0.0.1:{}/", redis.port)).unwrap();
        let r = tokio::time::timeout(Duration::from_secs(2), async {
            let mut c = plain.get_multiplexed_async_connection().await?;
            redis::cmd("PING").query_async::<String>(&mut c).await
        })
        .await;
        assert!(!matches!(r, Ok(Ok(_))), "a plain-text PING was answered: {r:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn over_tls_a_trip_opens_every_replica_once() {
        let ca = new_ca("breaker test CA");
        let (redis, _files) = tls_server(&ca, &server_cert(&ca), false);
        let [a, b, c] =
            ["a", "b", "c"].map(|id| replica(&redis.url(), id, |f| f.tls_root_certificates(ca.pem.clone())));
        connected(&[&a, &b, &c]).await;
        trip(a.db);
        let took =
            eventually(SOON, "b and c open", || b.db.state() == State::Open && c.db.state() == State::Open)
                .await;
        assert!(took < Duration::from_secs(1), "propagation took {took:?}");
        // The time left is the opening replica's, not a fresh period.
        let left = b.db.try_acquire().unwrap_err().retry_after().unwrap();
        assert!(left <= RECOVERY && left > RECOVERY - Duration::from_secs(3), "{left:?}");
        tokio::time::sleep(Duration::from_millis(1200)).await;
        for r in [&a, &b, &c] {
            assert_eq!(r.opened.load(Ordering::Relaxed), 1, "{:?}", r.fleet.health());
            assert!(!r.fleet.is_degraded());
            assert_eq!(r.fleet.stats().store_errors, 0, "{:?}", r.fleet.health());
        }
        let h = b.fleet.health();
        assert_eq!(h.breakers[0].fleet_state, Some(FleetState::Open));
        assert_eq!(h.breakers[0].voters, vec!["a".to_owned()]);
        assert_eq!(h.breakers[0].local_state, State::Open);
        assert_eq!(a.fleet.stats().published, 1);
        // Fleet-wide manual control goes through the same TLS connections.
        b.fleet.reset("db").await.unwrap();
        eventually(SOON, "a and c reset", || a.db.state() == State::Closed && c.db.state() == State::Closed)
            .await;
        no_plain_text(&redis).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_replica_that_does_not_trust_the_ca_is_degraded_and_its_calls_unaffected() {
        let ca = new_ca("breaker test CA");
        let (redis, _files) = tls_server(&ca, &server_cert(&ca), false);
        let good = replica(&redis.url(), "good", |f| f.tls_root_certificates(ca.pem.clone()));
        // The built-in roots (Mozilla's) do not have the private CA.
        let public_roots = replica(&redis.url(), "public-roots", |f| f);
        // Another CA.
        let other = new_ca("another CA");
        let wrong_ca = replica(&redis.url(), "wrong-ca", |f| f.tls_root_certificates(other.pem.clone()));
        connected(&[&good]).await;
        stays_degraded(&public_roots, &[&good]).await;
        stays_degraded(&wrong_ca, &[&good]).await;
        assert_eq!(good.fleet.stats().store_errors, 0);
        // The replica that trusts the CA still shares: its own trip is written.
        trip(good.db);
        eventually(SOON, "good publishes", || good.fleet.stats().published == 1).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_certificate_for_another_host_is_refused() {
        let ca = new_ca("breaker test CA");
        // Signed by the trusted CA, for a name that is not the URL's host (127.0.0.1).
        let elsewhere = leaf(&ca, &["redis.example.com"], ExtendedKeyUsagePurpose::ServerAuth);
        let (redis, _files) = tls_server(&ca, &elsewhere, false);
        let r = replica(&redis.url(), "a", |f| f.tls_root_certificates(ca.pem.clone()));
        stays_degraded(&r, &[]).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn mutual_tls_works_with_a_client_certificate_and_is_degraded_without() {
        let ca = new_ca("breaker test CA");
        let (redis, _files) = tls_server(&ca, &server_cert(&ca), true);
        let with_identity = |id: &'static str| {
            let me = client_cert(&ca, id);
            let roots = ca.pem.clone();
            move |f: FleetBuilder| f.tls_root_certificates(roots).tls_client_identity(me.cert, me.key)
        };
        let a = replica(&redis.url(), "a", with_identity("a"));
        let b = replica(&redis.url(), "b", with_identity("b"));
        connected(&[&a, &b]).await;
        // No client certificate: the server ends the handshake.
        let anonymous = replica(&redis.url(), "anonymous", |f| f.tls_root_certificates(ca.pem.clone()));
        // A client certificate the server's CA did not sign.
        let other = new_ca("another CA");
        let stranger = client_cert(&other, "stranger");
        let outsider = replica(&redis.url(), "outsider", |f| {
            f.tls_root_certificates(ca.pem.clone()).tls_client_identity(stranger.cert, stranger.key)
        });
        stays_degraded(&anonymous, &[&a, &b]).await;
        stays_degraded(&outsider, &[&a, &b]).await;
        // The replicas with their certificates share.
        trip(a.db);
        eventually(SOON, "b opens", || b.db.state() == State::Open).await;
        assert_eq!(b.fleet.health().breakers[0].voters, vec!["a".to_owned()]);
        assert_eq!(b.opened.load(Ordering::Relaxed), 1);
        assert_eq!((a.fleet.stats().store_errors, b.fleet.stats().store_errors), (0, 0));
    }

    fn start_err(url: &str, tls: impl FnOnce(FleetBuilder) -> FleetBuilder) -> FleetError {
        tls(Fleet::builder(url).replica_id("a")).start().unwrap_err()
    }

    fn tls_message(e: FleetError) -> String {
        match e {
            FleetError::Tls(m) => m,
            other => panic!("not a TLS error: {other:?}"),
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn bad_certificates_are_typed_errors_at_start() {
        let ca = new_ca("breaker test CA");
        let me = client_cert(&ca, "a");
        let url = "rediss://127.0.0.1:1/";
        // No certificate in it.
        let m = tls_message(start_err(url, |f| f.tls_root_certificates("not a certificate")));
        assert!(m.contains("root certificates") && m.contains("no PEM certificate"), "{m}");
        // PEM armour around something that is not a certificate.
        let garbage = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        let m = tls_message(start_err(url, |f| f.tls_root_certificates(garbage)));
        assert!(m.contains("root certificates"), "{m}");
        // A key given as the certificate, a certificate as the key, another certificate's key.
        let m = tls_message(start_err(url, |f| f.tls_client_identity(me.key.clone(), me.key.clone())));
        assert!(m.contains("client certificate"), "{m}");
        let m = tls_message(start_err(url, |f| f.tls_client_identity(me.cert.clone(), me.cert.clone())));
        assert!(m.contains("client key"), "{m}");
        let other = client_cert(&ca, "b");
        let m = tls_message(start_err(url, |f| f.tls_client_identity(me.cert.clone(), other.key.clone())));
        assert!(m.contains("client identity"), "{m}");
        // Certificates for a URL without TLS, and no verification at all.
        let m = tls_message(start_err("redis://127.0.0.1:1/", |f| f.tls_root_certificates(ca.pem.clone())));
        assert!(m.contains("rediss://"), "{m}");
        let m = tls_message(start_err("rediss://127.0.0.1:1/#insecure", |f| f));
        assert!(m.contains("#insecure"), "{m}");
        // What is right starts (and is degraded: nothing listens there).
        let fleet = Fleet::builder(url)
            .replica_id("a")
            .tls_root_certificates(ca.pem.clone())
            .tls_client_identity(me.cert.clone(), me.key.clone())
            .start()
            .unwrap();
        assert!(fleet.is_degraded());
        // And the Debug output never shows the key.
        let debug = format!("{:?}", Fleet::builder(url).tls_client_identity(me.cert.clone(), me.key.clone()));
        assert!(!debug.contains("PRIVATE KEY") && debug.contains("client_identity: true"), "{debug}");
    }
}

#[cfg(not(feature = "tls"))]
#[test]
fn without_the_tls_feature_a_rediss_url_is_a_typed_error_at_start() {
    use breaker_redis::{Fleet, FleetError};
    let err = Fleet::builder("rediss://127.0.0.1:6380/").replica_id("a").start().unwrap_err();
    assert_eq!(err, FleetError::NoTls);
    assert!(err.to_string().contains("`tls` feature"), "{err}");
    // Plain URLs are unaffected.
    let err = Fleet::builder("redis://127.0.0.1:6379/").replica_id("a").start().unwrap_err();
    assert_eq!(err, FleetError::NoRuntime);
}
