//! (e) The audit log: appends per second (concurrent and one at a time), and
//! root, proof and checkpoint times on a large log.

use std::time::Instant;

use crate::domain::ids::NodeId;
use crate::store::DbError;
use crate::tls::NodeTls;

/// (e) audit appends per second and proof generation time on a large log.
pub(super) async fn audit(entries: u64, tls: &NodeTls) -> anyhow::Result<()> {
    use crate::audit::{kinds, merkle, Entry};
    use crate::store::audit as store;
    let dir = std::env::temp_dir().join(format!(
        "passerelle-audit-{}",
        uuid::Uuid::now_v7().simple()
    ));
    std::fs::create_dir_all(&dir)?;
    let db = crate::store::Db::open(
        &format!("sqlite://{}", dir.join("audit.db").display()).into(),
        &dir.join("keys"),
        8,
        5_000,
    )?;
    let entry = |i: u64| {
        let mut e = Entry::new(
            kinds::API_ACTION,
            "bench",
            "POST /api/v1/cases/{id}/transitions",
        );
        e.case_id = Some(uuid::Uuid::now_v7().to_string());
        e.seq = Some(i as i64);
        e
    };
    // Appends, each its own transaction, from 64 concurrent requests (group commit).
    let n = 20_000;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..64 {
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            for i in (w..n).step_by(64) {
                db.write(move |c| store::append(c, entry(i)).map(|_| ()))
                    .await?;
            }
            Ok::<_, DbError>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let concurrent = n as f64 / started.elapsed().as_secs_f64();
    // One at a time: each append waits for its own fsync.
    let m = 2_000;
    let started = Instant::now();
    for i in 0..m {
        db.write(move |c| store::append(c, entry(i)).map(|_| ()))
            .await?;
    }
    let sequential = m as f64 / started.elapsed().as_secs_f64();
    println!(
        "(e) audit appends (entry + Merkle nodes, each its own transaction): {concurrent:>7.0}/s from 64 concurrent writers, {sequential:.0}/s one at a time (target ≥ 2000/s)"
    );
    // Grow the log to `entries` in large transactions, then time proofs.
    let have = db.read(store::size).await?;
    let started = Instant::now();
    let mut size = have;
    while size < entries {
        let chunk = (entries - size).min(50_000);
        db.write(move |c| {
            for i in 0..chunk {
                store::append(c, entry(size + i))?;
            }
            Ok::<_, DbError>(())
        })
        .await?;
        size += chunk;
    }
    let fill = started.elapsed();
    let ctx = crate::app::NodeCtx {
        node: NodeId::NeAnltp,
        deadlines: Default::default(),
        message_key: tls.message_key.clone(),
        receipt_key: tls.receipt_key.clone(),
        clock: Default::default(),
    };
    let (incl, cons, root) = db
        .read(move |c| {
            let t = Instant::now();
            let root = store::root(c, store::Tree::Own, size)?;
            let t_root = t.elapsed();
            let rounds = 200u64;
            let t = Instant::now();
            for k in 0..rounds {
                let index = (k * 7_919) % size;
                let proof = store::inclusion_proof(c, index, size)?;
                let leaf = store::node(c, store::Tree::Own, 0, index)?.unwrap_or_default();
                merkle::verify_inclusion(&leaf, index, size, &proof, &root)
                    .map_err(|e| DbError::Corrupt(e.to_string()))?;
            }
            let incl = t.elapsed() / rounds as u32;
            let t = Instant::now();
            for k in 1..=rounds {
                let old = (k * 4_999) % size + 1;
                store::consistency_proof(c, old, size)?;
            }
            let cons = t.elapsed() / rounds as u32;
            Ok::<_, DbError>((incl, cons, t_root))
        })
        .await?;
    let t = Instant::now();
    db.write(move |c| {
        crate::app::audit::sign_checkpoint(c, &ctx, size, chrono::Utc::now().naive_utc())
            .map(|_| ())
    })
    .await?;
    let signed = t.elapsed();
    println!(
        "    on a log of {size} entries (filled in {:.1} s): root {:.2} ms, inclusion proof {:.3} ms (generated and verified), consistency proof {:.3} ms, signed checkpoint {:.2} ms",
        fill.as_secs_f64(),
        root.as_secs_f64() * 1e3,
        incl.as_secs_f64() * 1e3,
        cons.as_secs_f64() * 1e3,
        signed.as_secs_f64() * 1e3,
    );
    drop(db);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
