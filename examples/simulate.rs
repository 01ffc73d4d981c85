//! Forecast a program before launch, on the real engine.
//!
//! `cargo run --release --example simulate -- examples/programs/dropbox.json [options]`
//!
//! Options: `--seed N`, `--periods N`, `--referrers N`, `--invites X` (per
//! referrer per period), `--signup P` (invite to sign-up), `--qualify P`
//! (sign-up to qualified), `--purchase AMOUNT`, `--repeat X` (purchases per
//! customer per period), `--refund P`, `--max-users N`, `--no-viral`,
//! `--svg PATH` (default: forecast.svg). Prints a table and writes a chart.

use std::error::Error;
use std::fmt::Write as _;
use std::time::Instant;

use plotters::prelude::*;

/// A simulation allocates and frees millions of small records; mimalloc does
/// that about twice as fast as the system allocator here (see BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use referral_engine::ProgramSpec;
use referral_engine::simulation::{Assumptions, Forecast, simulate};

/// Reads a program file (JSON, or TOML by its extension).
pub fn load(path: &str) -> Result<referral_engine::Program, Box<dyn Error>> {
    let text = std::fs::read_to_string(path)?;
    let spec: ProgramSpec = if path.ends_with(".toml") { toml::from_str(&text)? } else { serde_json::from_str(&text)? };
    Ok(spec.build()?)
}

/// Parses the options after the program file.
pub fn assumptions(args: &[String]) -> Result<(Assumptions, String), Box<dyn Error>> {
    let mut a = Assumptions::default();
    let mut svg = "forecast.svg".to_owned();
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        if flag == "--no-viral" {
            a.viral = false;
            continue;
        }
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--seed" => a.seed = value.parse()?,
            "--periods" => a.periods = value.parse()?,
            "--referrers" => a.starting_referrers = value.parse()?,
            "--invites" => a.invites_per_referrer = value.parse()?,
            "--signup" => a.invite_to_signup = value.parse()?,
            "--qualify" => a.signup_to_qualified = value.parse()?,
            "--purchase" => a.purchase_amount = value.parse()?,
            "--repeat" => a.purchases_per_period = value.parse()?,
            "--refund" => a.refund_rate = value.parse()?,
            "--max-users" => a.max_users = value.parse()?,
            "--svg" => svg = value.clone(),
            other => return Err(format!("unknown option {other}").into()),
        }
    }
    Ok((a, svg))
}

/// The forecast as a table.
pub fn table(f: &Forecast) -> Result<String, Box<dyn Error>> {
    let mut out = String::new();
    writeln!(
        out,
        "{:>6} {:>9} {:>9} {:>10} {:>6} {:>28} {:>14} {:>14} {:>10}",
        "period", "invites", "new", "users", "K", "granted", "revenue", "paid", "ROS %"
    )?;
    for p in &f.periods {
        let granted: Vec<String> = p.granted.iter().map(|(a, v)| format!("{} {a}", v.normalize())).collect();
        writeln!(
            out,
            "{:>6} {:>9} {:>9} {:>10} {:>6} {:>28} {:>14} {:>14} {:>10}",
            p.number,
            p.invites,
            p.new_users,
            p.users,
            p.k_factor,
            granted.join(", "),
            p.revenue,
            p.paid,
            p.return_on_spend.map_or("-".into(), |r| r.to_string())
        )?;
    }
    if let Some(last) = f.periods.last() {
        for (asset, left) in &last.budget_left {
            writeln!(out, "budget left: {left} {asset}")?;
        }
    }
    match f.budget_runs_out {
        Some(p) => writeln!(out, "the budget runs out in period {p}")?,
        None => writeln!(out, "the budget lasts")?,
    }
    Ok(out)
}

/// Draws cumulative users and new users per period to an SVG file.
pub fn chart(f: &Forecast, title: &str, path: &str) -> Result<(), Box<dyn Error>> {
    let root = SVGBackend::new(path, (900, 480)).into_drawing_area();
    root.fill(&WHITE)?;
    let periods = f.periods.len() as u32;
    let top = f.periods.iter().map(|p| p.users).max().unwrap_or(1).max(1);
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(36)
        .y_label_area_size(70)
        .build_cartesian_2d(1u32..periods.max(2), 0u64..top + top / 10)?;
    chart.configure_mesh().x_desc("period").y_desc("users").draw()?;
    chart
        .draw_series(LineSeries::new(f.periods.iter().map(|p| (p.number, p.users)), BLUE.stroke_width(3)))?
        .label("users (cumulative)")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE.stroke_width(3)));
    chart
        .draw_series(LineSeries::new(f.periods.iter().map(|p| (p.number, p.new_users)), RED.stroke_width(2)))?
        .label("new users by referral")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RED.stroke_width(2)));
    chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw()?;
    root.present()?;
    Ok(())
}

#[allow(dead_code)]
fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(path) = args.first() else {
        return Err("usage: simulate <program file> [options]".into());
    };
    let program = load(path)?;
    let title = format!("{} forecast", program.spec().name);
    let (a, svg) = assumptions(&args[1..])?;
    let started = Instant::now();
    let forecast = simulate(program, &a, "2026-01-01T00:00:00Z".parse()?)?;
    print!("{}", table(&forecast)?);
    chart(&forecast, &title, &svg)?;
    println!(
        "{} users, {} engine events in {:.1} s; chart written to {svg}",
        forecast.periods.last().map_or(0, |p| p.users),
        forecast.events,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
