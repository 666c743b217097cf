//! A whole conversation with a guest agent over a Unix socket (QEMU's `agent.sock` chardev), with
//! timings: Hello, Setup, a push of a directory, a few steps, a pull, Shutdown.
//!
//! ```text
//! cargo run -p hermetic --example agent_session -- /path/to/agent.sock /host/dir [uid]
//! ```
//!
//! A development tool for the microVM backend: it shows what the guest sees (`uname -r`, `id`)
//! and how long each round trip takes, without the engine.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use hermetic::vm::protocol::{Access, Setup};
use hermetic::vm::sync::Manifest;
use hermetic::vm::AgentClient;
use hermetic::StepSpec;
use tokio::net::UnixStream;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let socket = PathBuf::from(args.next().ok_or("usage: agent_session SOCKET DIR [UID]")?);
    let dir = PathBuf::from(args.next().ok_or("usage: agent_session SOCKET DIR [UID]")?);
    let uid: u32 = args.next().map(|u| u.parse()).transpose()?.unwrap_or(1001);

    let started = Instant::now();
    let stream = loop {
        match UnixStream::connect(&socket).await {
            Ok(stream) => break stream,
            Err(_) if started.elapsed() < Duration::from_secs(30) => {
                tokio::time::sleep(Duration::from_millis(5)).await
            }
            Err(e) => return Err(e.into()),
        }
    };
    let mut client = AgentClient::new(stream);
    let hello = tokio::time::timeout(Duration::from_secs(60), client.hello()).await??;
    println!(
        "hello after {:?}: kernel {}, {} ms since boot, notes {:?}",
        started.elapsed(),
        hello.kernel_release,
        hello.boot_ms,
        hello.notes
    );
    let t = Instant::now();
    let ready = client.setup(&Setup::new("hrun-guest", uid, uid)).await?;
    println!(
        "ready after {:?} ({} ms since boot)",
        t.elapsed(),
        ready.boot_ms
    );
    let t = Instant::now();
    let (manifest, stats) = client
        .push(&dir, Access::Writable, &Manifest::empty())
        .await?;
    println!("pushed {dir:?} in {:?}: {stats:?}", t.elapsed());

    for script in [
        "uname -r; id; pwd; ls",
        "true",
        "true",
        "echo from-the-guest > made-in-guest.txt",
        "sleep 2",
    ] {
        let step = StepSpec::new("sh", &dir)
            .arg("-c")
            .arg(script)
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .timeout(Duration::from_secs(60));
        let (tx, mut rx) = mpsc::channel(64);
        let t = Instant::now();
        let run = client.run_step(&step, tx, CancellationToken::new());
        let print = async {
            while let Some(chunk) = rx.recv().await {
                print!("  | {}", String::from_utf8_lossy(&chunk.bytes));
            }
        };
        let (outcome, ()) = tokio::join!(run, print);
        let outcome = outcome?;
        println!(
            "step {script:?}: {:?} {:?} in {:?} on the host, {:?} by the guest's clock",
            outcome.status,
            outcome.ending,
            t.elapsed(),
            outcome.usage.wall
        );
    }
    let t = Instant::now();
    let (_, pulled) = client.pull(&dir).await?;
    println!(
        "pulled in {:?}: {pulled:?} (manifest had {} entries)",
        t.elapsed(),
        manifest.len()
    );
    client.shutdown().await?;
    println!("shut down after {:?} in all", started.elapsed());
    Ok(())
}
