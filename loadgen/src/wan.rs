//! A WAN on loopback: a TCP proxy that holds every byte for half a round-trip time in
//! each direction before passing it on, without limiting bandwidth (`strata wan-proxy`,
//! used by the WAN benchmark and tests). What a long link does to a protocol is make
//! each round trip cost the RTT; the proxy reproduces that and nothing else (no loss,
//! no reordering), so a slowdown it shows is the protocol waiting.

use bytes::{Bytes, BytesMut};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Bytes read at most per chunk (one read each).
const CHUNK: usize = 64 << 10;
/// Chunks held per direction: 1 GiB/s for 100 ms fits, so the proxy is not what
/// limits a 50 ms link's bandwidth; bounded so a stalled reader holds the writer back
/// as a real link's window would.
const HELD_CHUNKS: usize = 2048;

#[derive(Debug, clap::Args)]
pub struct WanArgs {
    /// Where to listen, e.g. 127.0.0.1:7001 (port 0 picks one; the address is printed).
    #[arg(long)]
    pub listen: SocketAddr,
    /// Where to forward each connection.
    #[arg(long)]
    pub to: String,
    /// Round-trip time to add, in milliseconds (half each way).
    #[arg(long)]
    pub rtt_ms: u64,
}

/// Serves until the process ends. Prints `listening on ADDR` once bound, so a script
/// or test that asked for port 0 learns the port.
pub async fn run(args: WanArgs) -> std::io::Result<()> {
    let listener = TcpListener::bind(args.listen).await?;
    println!("listening on {}", listener.local_addr()?);
    let one_way = Duration::from_millis(args.rtt_ms) / 2;
    loop {
        let (client, _) = listener.accept().await?;
        // A real client could send its first byte only once the handshake's round trip
        // was over: its data leaves no earlier than that.
        let opened = Instant::now() + one_way * 2;
        let to = args.to.clone();
        tokio::spawn(async move {
            // A refused target closes the client's connection, as the link would.
            if let Ok(server) = TcpStream::connect(&to).await {
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                let (cr, cw) = client.into_split();
                let (sr, sw) = server.into_split();
                tokio::join!(pump(cr, sw, one_way, opened), pump(sr, cw, one_way, Instant::now()));
            }
        });
    }
}

/// Moves one direction: each chunk is written `delay` after it was read (or after
/// `opened`, if later), in order.
async fn pump(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, delay: Duration, opened: Instant) {
    let (tx, mut rx) = mpsc::channel::<(Instant, Bytes)>(HELD_CHUNKS);
    let read = async move {
        // Chunks are read straight into shared buffers and split off, not copied: the
        // proxy shares two cores with the sites it connects, so its copies are theirs.
        let mut buf = BytesMut::new();
        loop {
            if buf.capacity() < CHUNK / 8 {
                buf.reserve(CHUNK);
            }
            let n = from.read_buf(&mut buf).await.unwrap_or(0);
            let chunk = buf.split().freeze();
            // An empty chunk carries the end of the stream, delayed like the data.
            if tx.send((Instant::now().max(opened) + delay, chunk)).await.is_err() || n == 0 {
                return;
            }
        }
    };
    let write = async move {
        while let Some((due, data)) = rx.recv().await {
            tokio::time::sleep_until(due).await;
            if data.is_empty() || to.write_all(&data).await.is_err() {
                break;
            }
        }
        let _ = to.shutdown().await;
    };
    tokio::join!(read, write);
}
