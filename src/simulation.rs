//! Forecasting a program before launch: a seeded simulation that drives the
//! real engine (MemoryStore, manual clock) through periods of invites,
//! sign-ups, qualification, purchases and refunds.
//!
//! The same seed gives the same result. Rates are probabilities drawn from
//! the seeded generator; money stays decimal.

use crate::event::{Action, Enroll, Payout, Purchase, Refund, SignUp};
use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::clock::ManualClock;
use crate::domain::code::{RandomSource, SeededRandom};
use crate::domain::id::{ParticipantId, PayoutId};
use crate::domain::value::{Asset, Checked, Value, add_to};
use crate::engine::Engine;
use crate::error::Error;
use crate::event::{Event, EventKind};
use crate::program::{Program, Qualification};
use crate::store::MemoryStore;

/// What the simulation assumes about people.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct Assumptions {
    /// The random seed.
    pub seed: u64,
    /// How many periods to run.
    pub periods: u32,
    /// Days per period.
    pub period_days: u32,
    /// Referrers enrolled at the start.
    pub starting_referrers: u32,
    /// Invites each active referrer sends per period (on average).
    pub invites_per_referrer: f64,
    /// Probability that an invite becomes a sign-up.
    pub invite_to_signup: f64,
    /// Probability that a sign-up qualifies (signs up, buys or acts, as the program needs).
    pub signup_to_qualified: f64,
    /// A purchase's average amount, in the program's currency.
    pub purchase_amount: Decimal,
    /// Purchases per qualified customer per period (on average), after the first.
    pub purchases_per_period: f64,
    /// Probability that a purchase is refunded in full.
    pub refund_rate: f64,
    /// Whether referred users go on to refer (the viral loop).
    pub viral: bool,
    /// Periods a referrer keeps inviting after joining.
    pub active_periods: u32,
    /// The simulation stops growing at this many users.
    pub max_users: u64,
}

impl Default for Assumptions {
    fn default() -> Self {
        Self {
            seed: 1,
            periods: 12,
            period_days: 30,
            starting_referrers: 100,
            invites_per_referrer: 3.0,
            invite_to_signup: 0.25,
            signup_to_qualified: 0.5,
            purchase_amount: Decimal::from(20),
            purchases_per_period: 0.5,
            refund_rate: 0.05,
            viral: true,
            active_periods: 3,
            max_users: 1_000_000,
        }
    }
}

/// One period's figures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Period {
    /// 1 for the first period.
    pub number: u32,
    /// Invites sent.
    pub invites: u64,
    /// New users brought by referral.
    pub new_users: u64,
    /// Users so far, starting referrers included.
    pub users: u64,
    /// New users per referrer active in the period (the viral coefficient).
    pub k_factor: Decimal,
    /// Granted in the period, per asset, net of reversals.
    pub granted: BTreeMap<Asset, Decimal>,
    /// Paid out at the period's end, in the program's currency.
    pub paid: Decimal,
    /// What is left of each budget.
    pub budget_left: BTreeMap<Asset, Decimal>,
    /// Revenue from referred users in the period, net of refunds.
    pub revenue: Decimal,
    /// Return on the money spent on rewards so far: (revenue - cost) / cost, per cent.
    pub return_on_spend: Option<Decimal>,
}

/// The whole forecast.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Forecast {
    /// Every period.
    pub periods: Vec<Period>,
    /// The first period in which a budget ran out, if one did.
    pub budget_runs_out: Option<u32>,
    /// Events the engine handled.
    pub events: u64,
}

struct Sim<'a> {
    engine: Engine<MemoryStore>,
    clock: ManualClock,
    dice: SeededRandom,
    a: &'a Assumptions,
    program: String,
    events: u64,
}

impl Sim<'_> {
    fn chance(&self, p: f64) -> bool {
        let x = (self.dice.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        x < p
    }

    /// A whole number with mean `mean`: the integer part, plus one with the fraction's probability.
    fn count(&self, mean: f64) -> u64 {
        // `mean` is checked to be finite and at most MAX_RATE by `validate`.
        let whole = mean.clamp(0.0, MAX_RATE).floor();
        (whole as u64).saturating_add(u64::from(self.chance(mean - whole)))
    }

    fn send(&mut self, kind: impl Into<EventKind>) -> Result<crate::event::Outcome, Error> {
        let kind = kind.into();
        self.events = self.events.saturating_add(1);
        let event = Event::new(&format!("sim-{}", self.events), &self.program, kind)?;
        self.engine.handle(&event).and_then(|answer| answer.map_err(Error::from))
    }

    fn amount(&self, currency: &Asset) -> Value {
        // +/- 50% around the average, in whole cents.
        // `purchase_amount` is at most MAX_PURCHASE (see `validate`), so none
        // of this overflows; a failure would fall back to the average.
        let average = self.a.purchase_amount;
        let cents = average.checked_mul(Decimal::ONE_HUNDRED).map(|c| c.round()).unwrap_or(Decimal::ONE);
        let spread = u64::try_from(cents.mantissa().max(1)).unwrap_or(1);
        let drawn = Decimal::from(self.dice.next_u64().checked_rem(spread).unwrap_or(0));
        let amount = cents
            .checked_div(Decimal::TWO)
            .and_then(|half| drawn.checked_sub(half))
            .and_then(|jitter| cents.checked_add(jitter))
            .map(|c| c.max(Decimal::ONE))
            .and_then(|c| c.checked_div(Decimal::ONE_HUNDRED))
            .unwrap_or(average);
        Value::new(currency.clone(), amount)
    }
}

/// The most invites or purchases a participant makes per period, on average.
pub const MAX_RATE: f64 = 1_000.0;
/// The largest average purchase a simulation takes.
pub const MAX_PURCHASE: Decimal = Decimal::from_parts(1_000_000_000, 0, 0, false, 0);
/// The most periods a simulation runs.
pub const MAX_PERIODS: u32 = 10_000;

impl Assumptions {
    /// Checks that every assumption is in range: probabilities in 0..=1,
    /// rates finite and at most [`MAX_RATE`], a positive purchase amount of at
    /// most [`MAX_PURCHASE`], at most [`MAX_PERIODS`] periods.
    pub fn validate(&self) -> Result<(), Error> {
        let probability = |p: f64| p.is_finite() && (0.0..=1.0).contains(&p);
        let rate = |r: f64| r.is_finite() && (0.0..=MAX_RATE).contains(&r);
        let checks: [(bool, &'static str); 7] = [
            (probability(self.invite_to_signup), "invite_to_signup is not a probability (0 to 1)"),
            (probability(self.signup_to_qualified), "signup_to_qualified is not a probability (0 to 1)"),
            (probability(self.refund_rate), "refund_rate is not a probability (0 to 1)"),
            (rate(self.invites_per_referrer), "invites_per_referrer is not between 0 and 1000"),
            (rate(self.purchases_per_period), "purchases_per_period is not between 0 and 1000"),
            (
                self.purchase_amount > Decimal::ZERO && self.purchase_amount <= MAX_PURCHASE,
                "purchase_amount is not above zero and at most 1,000,000,000",
            ),
            (self.periods <= MAX_PERIODS, "periods is above 10,000"),
        ];
        match checks.into_iter().find(|(ok, _)| !ok) {
            Some((_, what)) => Err(Error::InvalidArgument(what)),
            None => Ok(()),
        }
    }
}

fn pid(s: String) -> Result<ParticipantId, Error> {
    Ok(ParticipantId::new(s)?)
}

/// Runs `program` under `assumptions`, from `start`.
pub fn simulate(program: Program, assumptions: &Assumptions, start: DateTime<Utc>) -> Result<Forecast, Error> {
    assumptions.validate()?;
    let id = program.id().clone();
    let clock = ManualClock::new(start);
    let qualification = program.spec().qualification.clone();
    let currency = Asset::Money(program.terms().currency);
    let budgets = program.spec().limits.budgets.clone();
    let engine = Engine::new(MemoryStore::new())
        .with_clock(clock.clone())
        .with_random(SeededRandom::new(assumptions.seed ^ 0x5eed))
        .with_outbox(false)
        // Nothing is sent twice: no outcome needs keeping for a replay.
        .with_outcome_retention(chrono::TimeDelta::zero())
        .with_program(program);
    let mut sim = Sim {
        engine,
        clock,
        dice: SeededRandom::new(assumptions.seed),
        a: assumptions,
        program: id.to_string(),
        events: 0,
    };
    // referrers: (id, code, period joined); customers: (id, qualified)
    let mut referrers: Vec<(String, String, u32)> = Vec::new();
    let mut customers: Vec<String> = Vec::new();
    for i in 0..assumptions.starting_referrers {
        let who = format!("r{i}");
        let out = sim.send(Enroll::new(pid(who.clone())?))?;
        if let Some(code) = out.codes.first() {
            referrers.push((who, code.to_string(), 0));
        }
    }
    let mut users = u64::from(assumptions.starting_referrers);
    let mut periods = Vec::new();
    let mut budget_runs_out = None;
    let mut earned = Decimal::ZERO;
    let mut orders = 0u64;
    for number in 1..=assumptions.periods {
        let before = sim.engine.read(&id).totals()?;
        let mut invites = 0u64;
        let mut new_users = 0u64;
        let mut joined = Vec::new();
        let active: Vec<(String, String)> = referrers
            .iter()
            .filter(|(_, _, since)| number.saturating_sub(*since) <= assumptions.active_periods.max(1))
            .map(|(r, c, _)| (r.clone(), c.clone()))
            .collect();
        // Existing customers buy again; some purchases are refunded.
        for c in &customers {
            for _ in 0..sim.count(assumptions.purchases_per_period) {
                orders = orders.saturating_add(1);
                let amount = sim.amount(&currency);
                let order: crate::domain::id::OrderId = format!("o{orders}").parse()?;
                sim.send(Purchase::new(pid(c.clone())?, order.clone(), amount.clone()))?;
                if sim.chance(assumptions.refund_rate) {
                    sim.send(Refund::new(order, amount))?;
                }
            }
        }
        for (referrer, code) in &active {
            let _ = referrer;
            let sent = sim.count(assumptions.invites_per_referrer);
            invites = sent.saturating_add(invites);
            for _ in 0..sent {
                if users >= assumptions.max_users || !sim.chance(assumptions.invite_to_signup) {
                    continue;
                }
                users = users.saturating_add(1);
                new_users = new_users.saturating_add(1);
                let who = format!("u{users}");
                let out = sim.send(SignUp::new(pid(who.clone())?, code.clone()));
                if out.is_err() {
                    continue;
                }
                if sim.chance(assumptions.signup_to_qualified) {
                    match &qualification {
                        Qualification::SignUp => {}
                        Qualification::FirstPurchase { minimum } => {
                            orders = orders.saturating_add(1);
                            let mut amount = sim.amount(&currency);
                            if let Some(m) = minimum {
                                amount = amount.with_amount(amount.amount().max(m.amount()));
                            }
                            sim.send(Purchase::new(pid(who.clone())?, format!("o{orders}").parse()?, amount))?;
                        }
                        Qualification::Action(name) => {
                            sim.send(Action::new(pid(who.clone())?, name.clone()))?;
                        }
                    }
                    customers.push(who.clone());
                }
                if assumptions.viral {
                    joined.push(who);
                }
            }
        }
        for who in joined {
            if let Ok(out) = sim.send(Enroll::new(pid(who.clone())?))
                && let Some(code) = out.codes.first()
            {
                referrers.push((who, code.to_string(), number));
            }
        }
        sim.clock.advance(Duration::days(i64::from(assumptions.period_days.max(1))));
        sim.send(EventKind::Tick)?;
        let payout: PayoutId = format!("period-{number}").parse()?;
        let paid_out = sim.send(Payout::new(payout, currency.clone()))?;
        let mut paid = Decimal::ZERO;
        for n in &paid_out.notices {
            if let crate::event::Notice::PaidOut { value, .. } = n {
                add_to(&mut paid, value.amount())?;
            }
        }
        let after = sim.engine.read(&id).totals()?;
        let mut granted = BTreeMap::new();
        for (a, v) in after.granted.iter() {
            let in_period = v.minus(before.granted_in(a))?;
            if !in_period.is_zero() {
                granted.insert(a.clone(), in_period);
            }
        }
        let mut budget_left = BTreeMap::new();
        for b in &budgets {
            budget_left.insert(b.asset().clone(), b.amount().minus(after.granted_in(b.asset()))?);
        }
        if budget_runs_out.is_none() && budget_left.values().any(|left| left.is_zero()) {
            budget_runs_out = Some(number);
        }
        let revenue = after.revenue.minus(before.revenue)?;
        let spent = after.granted_in(&currency);
        add_to(&mut earned, revenue)?;
        periods.push(Period {
            number,
            invites,
            new_users,
            users,
            k_factor: Decimal::from(new_users)
                .checked_div(Decimal::from(active.len() as u64))
                .map_or(Decimal::ZERO, |k| k.round_dp(3)),
            granted,
            paid,
            budget_left,
            revenue,
            return_on_spend: earned.checked_sub(spent).and_then(|gain| crate::insight::percent(gain, spent)),
        });
    }
    Ok(Forecast { periods, budget_runs_out, events: sim.events })
}
