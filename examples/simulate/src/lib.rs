//! The simulator's pieces: reading a program file, the forecast as a
//! table and as a chart. `main.rs` is the command line around them.

use std::error::Error;
use std::fmt::Write as _;

use plotters::prelude::*;
use referral_engine::ProgramSpec;
use referral_engine::simulation::Forecast;

/// Reads a program file (JSON, or TOML by its extension). An error reads
/// `FILE: line L, `FIELD`: what is wrong`.
pub fn load(path: &std::path::Path) -> Result<referral_engine::Program, Box<dyn Error>> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let spec = if path.extension().is_some_and(|e| e == "toml") {
        ProgramSpec::from_toml(&text)
    } else {
        ProgramSpec::from_json(&text)
    };
    let spec = spec.map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(spec.build().map_err(|e| format!("{}: {e}", path.display()))?)
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
