//! `tessera`: the portal binary.
//!
//! - `tessera serve` — serve a portal from a config and a templates folder
//! - `tessera check` — validate a config folder (exit status 2 with every problem)
//! - `tessera demo` — the shipped portal with simulated bank backends, in one process
//!
//! Layout: `main.rs` (commands), `telemetry` (logs and OpenTelemetry trace export).

mod telemetry;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tessera_channels::registry::docs::Base;
use tessera_channels::{app, runtime, server};
use tessera_descriptors::settings::ObservabilitySettings;
use tessera_descriptors::{build, Portal, Sources};
use tokio_util::sync::CancellationToken;

/// mimalloc instead of glibc's malloc: a response is often freed by another worker
/// thread than the one that allocated it, and glibc then locks the allocating thread's
/// arena (ADR 0010).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "tessera",
    version,
    about = "A fragment-based portal aggregation engine"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args)]
struct Folders {
    /// The config folder (tessera.toml, services/, fragments/, pages/).
    #[arg(long, default_value = "config")]
    config: PathBuf,
    /// The templates folder [default: `templates` beside the config folder].
    #[arg(long)]
    templates: Option<PathBuf>,
    /// Static assets served under /static [default: `static` beside the config folder].
    #[arg(long = "static")]
    static_dir: Option<PathBuf>,
}

impl Folders {
    fn sibling(&self, name: &str) -> PathBuf {
        self.config
            .parent()
            .map_or_else(|| PathBuf::from(name), |p| p.join(name))
    }
    fn templates(&self) -> PathBuf {
        self.templates
            .clone()
            .unwrap_or_else(|| self.sibling("templates"))
    }
    fn static_dir(&self) -> PathBuf {
        self.static_dir
            .clone()
            .unwrap_or_else(|| self.sibling("static"))
    }
}

#[derive(Subcommand)]
enum Command {
    /// Serve a portal.
    Serve {
        #[command(flatten)]
        folders: Folders,
        /// Listen address [default: server.listen from tessera.toml].
        #[arg(long)]
        listen: Option<SocketAddr>,
    },
    /// Validate a config folder; prints every problem and exits with status 2 if any.
    Check {
        /// The config folder.
        #[arg(default_value = "config")]
        config: PathBuf,
        /// The templates folder [default: `templates` beside the config folder].
        #[arg(long)]
        templates: Option<PathBuf>,
    },
    /// Run the shipped demo portal with simulated backends on 127.0.0.1.
    Demo {
        /// Listen address of the portal.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
    },
}

/// Logs and trace export as `[observability]` and the environment say; a trace export
/// that cannot be set up is a configuration error like any other (exit status 2).
fn init_telemetry(
    settings: &ObservabilitySettings,
    export: bool,
) -> Result<telemetry::Telemetry, ExitCode> {
    telemetry::init(settings, export).map_err(|e| {
        eprintln!("tessera: {e}");
        eprintln!("nothing was started");
        ExitCode::from(2)
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tessera: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match cli.command {
        Command::Check { config, templates } => {
            if let Err(code) = init_telemetry(&ObservabilitySettings::default(), false) {
                return code;
            }
            let folders = Folders {
                config,
                templates,
                static_dir: None,
            };
            check(&folders)
        }
        Command::Serve { folders, listen } => {
            let sources = Sources::read(&folders.config, &folders.templates());
            match load(&sources) {
                Ok(portal) => {
                    let telemetry = match init_telemetry(&portal.settings.observability, true) {
                        Ok(t) => t,
                        Err(code) => return code,
                    };
                    let addr = listen.unwrap_or(portal.settings.server.listen);
                    let dirs = (folders.config.clone(), folders.templates());
                    let code = runtime.block_on(run(
                        sources,
                        Some(dirs),
                        addr,
                        folders.static_dir(),
                        false,
                    ));
                    telemetry.shutdown();
                    code
                }
                Err(code) => code,
            }
        }
        Command::Demo { listen } => {
            let configured = Sources::read(&shipped("config"), &shipped("templates"))
                .settings
                .observability;
            let telemetry = match init_telemetry(&configured, true) {
                Ok(t) => t,
                Err(code) => return code,
            };
            let code = runtime.block_on(demo(listen));
            telemetry.shutdown();
            code
        }
    }
}

fn check(folders: &Folders) -> ExitCode {
    match load(&Sources::read(&folders.config, &folders.templates())) {
        Ok(p) => {
            println!(
                "{}: {} services, {} fragments, {} pages, {} templates: OK",
                folders.config.display(),
                p.services.len(),
                p.fragments.len(),
                p.pages.len(),
                p.templates.iter().count()
            );
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
}

/// Builds the portal, or prints every problem and yields exit status 2.
fn load(sources: &Sources) -> Result<Portal, ExitCode> {
    build(sources).map_err(|diags| {
        for d in diags.iter() {
            eprintln!("{d}");
        }
        eprintln!("{} problem(s) found; nothing was started", diags.len());
        ExitCode::from(2)
    })
}

/// Serves the set read from the folders (already validated) with the descriptors
/// registered in the store laid over it; with `dirs` the folders are watched.
async fn run(
    sources: Sources,
    dirs: Option<(PathBuf, PathBuf)>,
    addr: SocketAddr,
    static_dir: PathBuf,
    seed_demo_users: bool,
) -> ExitCode {
    let settings_text = dirs
        .as_ref()
        .and_then(|(config, _)| std::fs::read_to_string(config.join("tessera.toml")).ok());
    let portal_settings = sources.settings.clone();
    let url = std::env::var("TESSERA_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| portal_settings.store.url.clone());
    let store = match tessera_store::open(&url).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("tessera: cannot open the store: {e}");
            return ExitCode::FAILURE;
        }
    };
    if seed_demo_users {
        if let Err(e) = tessera_channels::demo_users::seed(store.as_ref()).await {
            eprintln!("tessera: cannot create the demo users: {e}");
            return ExitCode::FAILURE;
        }
    }
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("tessera: cannot listen on {addr}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let name = portal_settings.portal.name.clone();
    let grace = portal_settings.server.shutdown_grace;
    let cancel = CancellationToken::new();
    let base = Base::from_sources(sources, settings_text);
    let state = match runtime::start_node(base, dirs, store, &cancel).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("tessera: {e}");
            return ExitCode::FAILURE;
        }
    };
    let static_dir = static_dir.is_dir().then_some(static_dir);
    // `/admin` on a listener of its own when `[admin] listen` says so; `app` then leaves
    // it out of the public one.
    let admin_listener = match state.settings().admin.listen {
        None => None,
        Some(a) if a == addr => {
            eprintln!("tessera: admin.listen ({a}) must differ from the public listen address");
            cancel.cancel();
            return ExitCode::FAILURE;
        }
        Some(a) => match tokio::net::TcpListener::bind(a).await {
            Ok(l) => Some(l),
            Err(e) => {
                eprintln!("tessera: cannot listen on {a} (admin.listen): {e}");
                cancel.cancel();
                return ExitCode::FAILURE;
            }
        },
    };
    // One signal stops every listener.
    let stop = CancellationToken::new();
    tokio::spawn({
        let stop = stop.clone();
        async move {
            server::shutdown_signal().await;
            stop.cancel();
        }
    });
    let admin = admin_listener.map(|l| {
        let at = l
            .local_addr()
            .map_or_else(|_| "?".to_owned(), |a| a.to_string());
        eprintln!("Operator console and admin API on http://{at}/admin (only there)");
        tokio::spawn(server::serve_with_grace(
            l,
            tessera_channels::console::admin_app(state.clone(), static_dir.clone()),
            stop.clone().cancelled_owned(),
            grace,
        ))
    });
    eprintln!(
        "{name} is serving on http://{addr}/ (state in {})",
        state.store.kind()
    );
    let mut served = server::serve_with_grace(
        listener,
        app(state, static_dir),
        stop.clone().cancelled_owned(),
        grace,
    )
    .await;
    stop.cancel();
    if let Some(admin) = admin {
        served = match admin.await {
            Ok(result) => served.and(result),
            Err(e) => served.and(Err(std::io::Error::other(e))),
        };
    }
    cancel.cancel();
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tessera: server failed: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The shipped portal lives beside the binary's sources; from the repository root it is
/// simply `config/`.
fn shipped(name: &str) -> PathBuf {
    let here = Path::new(name);
    if here.is_dir() {
        return here.to_path_buf();
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join(name)
}

async fn demo(listen: SocketAddr) -> ExitCode {
    let backends = match tessera_demo::start_all().await {
        Ok(b) => b,
        Err(e) => {
            eprintln!("tessera: cannot start the simulated backends: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut sources = Sources::read(&shipped("config"), &shipped("templates"));
    for (service, url) in backends.overrides() {
        sources.override_service_url(&service, &url);
    }
    // The demo's admin API gets a fresh token each run unless one is given.
    let token = std::env::var("TESSERA_ADMIN_TOKEN")
        .ok()
        .filter(|t| !t.is_empty())
        .or_else(|| sources.settings.admin.token.clone())
        .unwrap_or_else(demo_token);
    sources.settings.admin.token = Some(token.clone());
    if let Err(code) = load(&sources) {
        return code;
    }
    eprintln!("Simulated backends (change latency or failure mode with POST <url>/_control):");
    for (service, url) in backends.overrides() {
        eprintln!("  {service:<10} {url}   e.g. curl -d mode=hang {url}/_control");
    }
    eprintln!(
        "Admin API: curl -H 'Authorization: Bearer {token}' http://{listen}/admin/api/services"
    );
    eprintln!("Demo users (login / password): alice / alice-demo-1 (retail), bruno / bruno-demo-1 (private banking), carla / carla-demo-1 (employee), olga / olga-demo-1 (operator)");
    eprintln!(
        "Operator console: http://{}/admin (sign in as olga)",
        sources.settings.admin.listen.unwrap_or(listen)
    );
    let dirs = (shipped("config"), shipped("templates"));
    run(sources, Some(dirs), listen, shipped("static"), true).await
}

/// A token nobody can guess from outside this process (std's hasher is randomly keyed).
fn demo_token() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut out = String::from("demo-");
    for _ in 0..2 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        out.push_str(&format!("{:016x}", h.finish()));
    }
    out
}
