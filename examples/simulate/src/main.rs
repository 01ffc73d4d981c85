//! Forecast a program before launch, on the real engine.
//!
//! ```sh
//! cargo run --release -p simulate -- examples/programs/dropbox.json --periods 12 --seed 1
//! cargo run -p simulate -- --help
//! ```
//!
//! Prints a table of the periods and writes a chart (SVG).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use referral_engine::simulation::{Assumptions, simulate};

/// A simulation allocates and frees millions of small records; mimalloc does
/// that about twice as fast as the system allocator here (see BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Forecast a referral program on the real engine: invites, sign-ups,
/// qualified referrals, rewards, revenue and budget, period by period.
#[derive(Debug, Parser)]
#[command(name = "simulate", version)]
struct Cli {
    /// The program file (JSON, or TOML by its extension).
    program: PathBuf,
    /// The seed of the simulated crowd: the same seed, the same forecast.
    #[arg(long)]
    seed: Option<u64>,
    /// How many periods to simulate.
    #[arg(long)]
    periods: Option<u32>,
    /// Referrers at the start.
    #[arg(long)]
    referrers: Option<u32>,
    /// Invites each referrer sends per period.
    #[arg(long)]
    invites: Option<f64>,
    /// The share of invites that sign up (0 to 1).
    #[arg(long)]
    signup: Option<f64>,
    /// The share of sign-ups that qualify (0 to 1).
    #[arg(long)]
    qualify: Option<f64>,
    /// The amount of each purchase, in the program's currency.
    #[arg(long)]
    purchase: Option<rust_decimal::Decimal>,
    /// Purchases per customer per period.
    #[arg(long)]
    repeat: Option<f64>,
    /// The share of purchases refunded (0 to 1).
    #[arg(long)]
    refund: Option<f64>,
    /// Stop growing at this many users.
    #[arg(long)]
    max_users: Option<u64>,
    /// New users do not refer in their turn.
    #[arg(long)]
    no_viral: bool,
    /// Where to write the chart.
    #[arg(long, default_value = "forecast.svg")]
    svg: PathBuf,
}

impl Cli {
    fn assumptions(&self) -> Assumptions {
        let mut a = Assumptions::default();
        if let Some(v) = self.seed {
            a.seed = v;
        }
        a.viral = !self.no_viral;
        if let Some(v) = self.periods {
            a.periods = v;
        }
        if let Some(v) = self.referrers {
            a.starting_referrers = v;
        }
        if let Some(v) = self.invites {
            a.invites_per_referrer = v;
        }
        if let Some(v) = self.signup {
            a.invite_to_signup = v;
        }
        if let Some(v) = self.qualify {
            a.signup_to_qualified = v;
        }
        if let Some(v) = self.purchase {
            a.purchase_amount = v;
        }
        if let Some(v) = self.repeat {
            a.purchases_per_period = v;
        }
        if let Some(v) = self.refund {
            a.refund_rate = v;
        }
        if let Some(v) = self.max_users {
            a.max_users = v;
        }
        a
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("simulate: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: &Cli) -> Result<(), Box<dyn std::error::Error>> {
    let program = simulate::load(&cli.program)?;
    let title = format!("{} forecast", program.spec().name);
    let started = Instant::now();
    let forecast = simulate(program, &cli.assumptions(), "2026-01-01T00:00:00Z".parse()?)?;
    print!("{}", simulate::table(&forecast)?);
    let svg = cli.svg.display().to_string();
    simulate::chart(&forecast, &title, &svg)?;
    println!(
        "{} users, {} engine events in {:.1} s; chart written to {svg}",
        forecast.periods.last().map_or(0, |p| p.users),
        forecast.events,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
