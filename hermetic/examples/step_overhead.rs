//! Measures what starting a step costs: N runs of `/bin/true` through each executor, against
//! the same N commands run by one shell. Usage: `cargo run --release -p hermetic --example
//! step_overhead [N]`. The engine's benchmark (`ci/bench/steps.sh`) measures whole workflows.

use std::time::{Duration, Instant};

use hermetic::{Executor, HostExecutor, NamespaceExecutor, SandboxConfig, StepSpec};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const PATH: &str = "/usr/local/bin:/usr/bin:/bin";

async fn run(executor: &dyn Executor, step: StepSpec) -> Duration {
    let (tx, mut rx) = mpsc::channel(16);
    let started = Instant::now();
    let drain = async { while rx.recv().await.is_some() {} };
    let (outcome, ()) = tokio::join!(executor.run(step, tx, CancellationToken::new()), drain);
    if let Err(e) = outcome {
        eprintln!("step failed to run: {e}");
        std::process::exit(1);
    }
    started.elapsed()
}

async fn per_step(executor: &dyn Executor, n: u32) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..n {
        total += run(executor, StepSpec::new("/bin/true", "/").env("PATH", PATH)).await;
    }
    total / n
}

#[tokio::main]
async fn main() {
    let n: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200);
    let host = HostExecutor::new();
    let script = format!("i=0; while [ $i -lt {n} ]; do /bin/true; i=$((i+1)); done");
    let shell = run(
        &host,
        StepSpec::new("/bin/sh", "/")
            .arg("-c")
            .arg(script)
            .env("PATH", PATH),
    )
    .await
        / n;
    println!(
        "one shell, {n} commands:   {:>8.3} ms per command",
        ms(shell)
    );
    let none = per_step(&host, n).await;
    println!(
        "--sandbox none:           {:>8.3} ms per step ({:+.3} ms)",
        ms(none),
        ms(none) - ms(shell)
    );
    match NamespaceExecutor::probe() {
        Ok(()) => match NamespaceExecutor::new(SandboxConfig::new(Vec::<String>::new())) {
            Ok(ns) => {
                let t = per_step(&ns, n).await;
                println!(
                    "--sandbox namespace:      {:>8.3} ms per step ({:+.3} ms)",
                    ms(t),
                    ms(t) - ms(shell)
                );
            }
            Err(e) => println!("--sandbox namespace:      not configurable: {e}"),
        },
        Err(reason) => println!("--sandbox namespace:      unavailable: {reason}"),
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
