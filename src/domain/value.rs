//! Values: what a reward is an amount of, and the arithmetic on it.
//!
//! A [`Value`] is a signed decimal quantity of one [`Asset`]. Arithmetic across
//! two assets is an error ([`ValueError::AssetMismatch`]), never a conversion.
//! Money is rounded to its currency's minor units by an explicit [`Rounding`].

use std::fmt;

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

/// A currency: its three-letter code and the number of its minor units.
///
/// A code of ISO 4217 (the table of the `iso_currency` crate) takes its minor
/// units from the standard and is written as the code alone, `"USD"`. A
/// currency of your own (a code outside the standard, or one the standard
/// gives no minor unit, such as `XAU`) is declared with its minor units and
/// written with them, `"PTS/0"` or `"XAU/4"`, so it reads back exactly as
/// declared. Any other three letters are refused.
///
/// ```
/// use referral_engine::domain::value::Currency;
/// let usd: Currency = "usd".parse().unwrap();
/// assert_eq!(usd.code(), "USD");
/// assert_eq!(usd.minor_units(), 2);
/// assert_eq!("JPY".parse::<Currency>().unwrap().minor_units(), 0);
/// assert_eq!("CLF".parse::<Currency>().unwrap().minor_units(), 4);
/// assert!("USS".parse::<Currency>().is_err()); // not ISO 4217
/// let own: Currency = "PTS/3".parse().unwrap(); // declared with its minor units
/// assert_eq!((own.minor_units(), own.to_string().as_str()), (3, "PTS/3"));
/// assert!("USD/3".parse::<Currency>().is_err()); // ISO 4217 says 2
/// assert_eq!(format!("{:?}", "USD".parse::<Currency>().unwrap()), "Currency(USD/2)");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency {
    code: [u8; 3],
    minor_units: u8,
}

/// Its code and minor units, readable in a log: `Currency(USD/2)`.
impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Currency({}/{})", self.code(), self.minor_units)
    }
}

/// The most minor units a currency of one's own may declare (ISO 4217's
/// largest is 4).
pub const MAX_MINOR_UNITS: u8 = 4;

/// The minor units ISO 4217 gives `code`, if it lists the code with one.
fn iso_minor_units(code: &str) -> Option<u8> {
    iso_currency::Currency::from_code(code).and_then(|c| c.exponent()).and_then(|e| u8::try_from(e).ok())
}

impl Currency {
    /// A currency from its code and minor units: for a code of ISO 4217 they
    /// must be the standard's; any other three letters declare a currency of
    /// one's own, with at most [`MAX_MINOR_UNITS`].
    pub fn new(code: &str, minor_units: u8) -> Result<Self, ValueError> {
        let upper = code.trim().to_ascii_uppercase();
        let [a, b, c] = upper.as_bytes() else { return Err(ValueError::BadCurrency(code.to_owned())) };
        if ![a, b, c].iter().all(|x| x.is_ascii_uppercase()) {
            return Err(ValueError::BadCurrency(code.to_owned()));
        }
        match iso_minor_units(&upper) {
            Some(iso) if iso != minor_units => {
                Err(ValueError::MinorUnitsDisagree { code: upper, declared: minor_units, iso })
            }
            None if minor_units > MAX_MINOR_UNITS => Err(ValueError::BadCurrency(code.to_owned())),
            _ => Ok(Self { code: [*a, *b, *c], minor_units }),
        }
    }

    /// The three-letter code, upper case.
    pub fn code(&self) -> &str {
        std::str::from_utf8(&self.code).unwrap_or("XXX")
    }

    /// How many decimal places its minor unit has (USD 2, JPY 0, KWD 3).
    pub fn minor_units(&self) -> u8 {
        self.minor_units
    }

    /// Whether ISO 4217 lists it (else it is a currency of one's own, written
    /// with its minor units).
    pub fn is_iso(&self) -> bool {
        iso_minor_units(self.code()).is_some()
    }
}

impl std::str::FromStr for Currency {
    type Err = ValueError;
    /// `"USD"` (ISO 4217, any case) or `"PTS/2"` (a code and its minor units).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if let Some((code, minor)) = s.split_once('/') {
            let minor = minor.parse::<u8>().map_err(|_| ValueError::BadCurrency(s.to_owned()))?;
            return Currency::new(code, minor);
        }
        let upper = s.to_ascii_uppercase();
        match iso_minor_units(&upper) {
            Some(minor) => Currency::new(&upper, minor),
            None if upper.len() == 3 && upper.bytes().all(|b| b.is_ascii_uppercase()) => {
                Err(ValueError::UnknownCurrency(upper))
            }
            None => Err(ValueError::BadCurrency(s.to_owned())),
        }
    }
}

impl fmt::Display for Currency {
    /// The canonical form, which [`str::parse`] reads back: the code for ISO
    /// 4217, the code and its minor units for a currency of one's own.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_iso() { f.write_str(self.code()) } else { write!(f, "{}/{}", self.code(), self.minor_units) }
    }
}

impl Serialize for Currency {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// What a reward is an amount of.
///
/// Written as text in serde formats: `"USD"` (money in an ISO 4217 currency;
/// `"PTS/0"` in a currency of one's own, see [`Currency`]),
/// `"points"` or `"points:karma"`, `"unit:MB"`, `"entitlement:premium_month"`,
/// `"discount"`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Asset {
    /// Money in a currency.
    Money(Currency),
    /// Points of a named points currency ("points", "karma").
    Points(String),
    /// A quantity of a named unit ("MB").
    Unit(String),
    /// A count of a named entitlement ("premium_month").
    Entitlement(String),
    /// A discount voucher; the value is the percentage off.
    DiscountPercent,
}

impl Asset {
    /// Decimal places a value of this asset keeps, when it has a fixed number.
    pub fn scale(&self) -> Option<u32> {
        match self {
            Asset::Money(c) => Some(u32::from(c.minor_units())),
            _ => None,
        }
    }
}

impl fmt::Display for Asset {
    /// The canonical text form, which [`str::parse`] reads back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Asset::Money(c) => write!(f, "{c}"),
            Asset::Points(n) if n == "points" => f.write_str("points"),
            Asset::Points(n) => write!(f, "points:{n}"),
            Asset::Unit(n) => write!(f, "unit:{n}"),
            Asset::Entitlement(n) => write!(f, "entitlement:{n}"),
            Asset::DiscountPercent => f.write_str("discount"),
        }
    }
}

impl std::str::FromStr for Asset {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, ValueError> {
        let bad = || ValueError::BadAsset(s.to_owned());
        let named = |n: &str| {
            let ok = !n.is_empty() && n.len() <= 64 && n.chars().all(|c| c.is_alphanumeric() || "_-.".contains(c));
            if ok { Ok(n.to_owned()) } else { Err(bad()) }
        };
        match s.split_once(':') {
            Some(("points", n)) => Ok(Asset::Points(named(n)?)),
            Some(("unit", n)) => Ok(Asset::Unit(named(n)?)),
            Some(("entitlement", n)) => Ok(Asset::Entitlement(named(n)?)),
            Some(_) => Err(bad()),
            None if s == "points" => Ok(Asset::Points("points".into())),
            None if s == "discount" => Ok(Asset::DiscountPercent),
            None if s.get(..3).is_some_and(|c| c.bytes().all(|b| b.is_ascii_uppercase()))
                && (s.len() == 3 || s.as_bytes().get(3) == Some(&b'/')) =>
            {
                Ok(Asset::Money(s.parse()?))
            }
            None => Err(bad()),
        }
    }
}

impl Serialize for Asset {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Asset {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

/// How money is rounded to its currency's minor units.
///
/// Every computed amount (a percentage, a proportional reversal, a split) is
/// rounded once, with the program's rule. The default is half-to-even
/// (banker's rounding), which has no bias over many roundings.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Rounding {
    /// Half to even: 0.125 -> 0.12, 0.135 -> 0.14.
    #[default]
    HalfEven,
    /// Half away from zero: 0.125 -> 0.13.
    HalfUp,
    /// Toward zero: 0.129 -> 0.12. Never pays more than the exact share.
    Down,
}

impl Rounding {
    fn strategy(self) -> RoundingStrategy {
        match self {
            Rounding::HalfEven => RoundingStrategy::MidpointNearestEven,
            Rounding::HalfUp => RoundingStrategy::MidpointAwayFromZero,
            Rounding::Down => RoundingStrategy::ToZero,
        }
    }

    /// Rounds `amount` to `scale` decimal places.
    pub fn round(self, amount: Decimal, scale: u32) -> Decimal {
        amount.round_dp_with_strategy(scale, self.strategy())
    }
}

/// A signed amount of one asset.
///
/// Written as text in serde formats: the exact decimal, a space, the asset:
/// `"500 unit:MB"`, `"12.50 USD"`, `"10 points"`, `"10 discount"`.
///
/// ```
/// use referral_engine::Value;
/// use referral_engine::domain::value::Asset;
/// use rust_decimal::Decimal;
/// let a = Value::money("USD", Decimal::new(1050, 2)).unwrap();
/// let b = Value::money("USD", Decimal::new(250, 2)).unwrap();
/// assert_eq!(a.checked_add(&b).unwrap().amount(), Decimal::new(1300, 2));
/// let points = Value::new(Asset::Points("points".into()), Decimal::from(5));
/// assert!(a.checked_add(&points).is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Value {
    asset: Asset,
    amount: Decimal,
}

impl Value {
    /// An amount of an asset.
    pub fn new(asset: Asset, amount: Decimal) -> Self {
        Self { asset, amount }
    }

    /// An amount of money; the currency code is validated.
    pub fn money(currency: &str, amount: Decimal) -> Result<Self, ValueError> {
        Ok(Self::new(Asset::Money(currency.parse()?), amount))
    }

    /// Zero of an asset.
    pub fn zero(asset: Asset) -> Self {
        Self::new(asset, Decimal::ZERO)
    }

    /// The asset.
    pub fn asset(&self) -> &Asset {
        &self.asset
    }

    /// The signed amount.
    pub fn amount(&self) -> Decimal {
        self.amount
    }

    /// The same asset with another amount.
    pub fn with_amount(&self, amount: Decimal) -> Self {
        Self::new(self.asset.clone(), amount)
    }

    fn same_asset(&self, other: &Value) -> Result<(), ValueError> {
        if self.asset == other.asset {
            Ok(())
        } else {
            Err(ValueError::AssetMismatch { left: self.asset.clone(), right: other.asset.clone() })
        }
    }

    /// The sum, or an error when the assets differ or the sum overflows.
    pub fn checked_add(&self, other: &Value) -> Result<Value, ValueError> {
        self.same_asset(other)?;
        self.amount.checked_add(other.amount).map(|a| self.with_amount(a)).ok_or(ValueError::Overflow)
    }

    /// The difference, or an error when the assets differ or it overflows.
    pub fn checked_sub(&self, other: &Value) -> Result<Value, ValueError> {
        self.same_asset(other)?;
        self.amount.checked_sub(other.amount).map(|a| self.with_amount(a)).ok_or(ValueError::Overflow)
    }

    /// `percent` per cent of this value, rounded with `rounding` when the asset has a scale.
    pub fn percent(&self, percent: Decimal, rounding: Rounding) -> Result<Value, ValueError> {
        let exact = self
            .amount
            .checked_mul(percent)
            .and_then(|x| x.checked_div(Decimal::ONE_HUNDRED))
            .ok_or(ValueError::Overflow)?;
        Ok(self.with_amount(self.round_amount(exact, rounding)))
    }

    /// Rounds an amount of this value's asset to its scale, if it has one.
    pub fn round_amount(&self, amount: Decimal, rounding: Rounding) -> Decimal {
        match self.asset.scale() {
            Some(scale) => rounding.round(amount, scale),
            None => amount.normalize(),
        }
    }

    /// Whether the amount is above zero.
    pub fn is_positive(&self) -> bool {
        self.amount > Decimal::ZERO
    }

    /// Splits this value into parts proportional to `weights` that add up exactly to it.
    ///
    /// Each part is rounded down to the asset's scale and the remaining smallest
    /// units go, one each, to the parts with the largest remainders (ties to the
    /// earlier part): the largest-remainder method. Non-positive weights get zero.
    pub fn split(&self, weights: &[Decimal]) -> Result<Vec<Value>, ValueError> {
        let mut total = Decimal::ZERO;
        for w in weights.iter().filter(|w| **w > Decimal::ZERO) {
            add_to(&mut total, *w)?;
        }
        if total <= Decimal::ZERO {
            return Err(ValueError::NothingToSplit);
        }
        // An asset with no scale splits in units of the amount's own finest
        // digit, so that the parts add up to it exactly.
        let scale = self.asset.scale().unwrap_or(self.amount.scale());
        let unit = Decimal::new(1, scale);
        let mut parts = Vec::with_capacity(weights.len());
        let mut remainders = Vec::with_capacity(weights.len());
        let mut left = self.amount;
        for (i, w) in weights.iter().enumerate() {
            let w = (*w).max(Decimal::ZERO);
            let exact = self.amount.times(w)?.over(total)?;
            let floor = Rounding::Down.round(exact, scale);
            parts.push(floor);
            remainders.push((exact.minus(floor)?, i));
            left = left.minus(floor)?;
        }
        remainders.sort_by(|a, b| b.0.abs().cmp(&a.0.abs()).then(a.1.cmp(&b.1)));
        let step = if left.is_sign_negative() { negated(unit) } else { unit };
        for (_, i) in remainders.iter().cycle().take(parts.len().saturating_mul(2)) {
            if left.is_zero() || left.abs() < unit {
                break;
            }
            if let Some(p) = parts.get_mut(*i) {
                *p = p.plus(step)?;
                left = left.minus(step)?;
            }
        }
        Ok(parts.into_iter().map(|a| self.with_amount(a)).collect())
    }
}

impl Value {
    /// The canonical text form: exact amount, a space, the asset.
    pub fn to_canonical(&self) -> String {
        format!("{} {}", self.amount, self.asset)
    }
}

impl std::str::FromStr for Value {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, ValueError> {
        let (amount, asset) = s.trim().split_once(' ').ok_or_else(|| ValueError::BadValue(s.to_owned()))?;
        let amount: Decimal = amount.parse().map_err(|_| ValueError::BadValue(s.to_owned()))?;
        Ok(Value::new(asset.trim().parse()?, amount))
    }
}

impl Serialize for Value {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_canonical())
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.asset {
            Asset::Money(c) => {
                let places = usize::from(c.minor_units());
                write!(f, "{:.places$} {}", self.amount, c.code())
            }
            Asset::DiscountPercent => write!(f, "{}% off", self.amount.normalize()),
            Asset::Points(n) | Asset::Unit(n) | Asset::Entitlement(n) => {
                write!(f, "{} {n}", self.amount.normalize())
            }
        }
    }
}

/// The largest amount of any asset the engine takes in one value: a
/// quadrillion units. Sums of such amounts stay far below a decimal's range,
/// and checked arithmetic refuses the rest.
pub const MAX_AMOUNT: Decimal = Decimal::from_parts(2_764_472_320, 232_830, 0, false, 0);

impl Value {
    /// Checks that the amount is at most [`MAX_AMOUNT`] either way, and no
    /// finer than the asset's scale (a currency's minor unit).
    pub fn check_bounds(&self) -> Result<(), ValueError> {
        if self.amount.abs() > MAX_AMOUNT {
            return Err(ValueError::TooLarge(self.clone()));
        }
        if let Some(scale) = self.asset.scale()
            && self.amount.normalize().scale() > scale
        {
            return Err(ValueError::TooFine { value: self.clone(), scale });
        }
        Ok(())
    }
}

/// Checked decimal arithmetic: every sum, difference, product and quotient of
/// money or counters in the library goes through it, so that an overflow is
/// a [`ValueError::Overflow`], never a panic.
pub(crate) trait Checked: Sized {
    /// `self + other`.
    fn plus(self, other: Self) -> Result<Self, ValueError>;
    /// `self - other`.
    fn minus(self, other: Self) -> Result<Self, ValueError>;
    /// `self * other`.
    fn times(self, other: Self) -> Result<Self, ValueError>;
    /// `self / other` (a zero divisor is an overflow too).
    fn over(self, other: Self) -> Result<Self, ValueError>;
}

impl Checked for Decimal {
    fn plus(self, other: Self) -> Result<Self, ValueError> {
        self.checked_add(other).ok_or(ValueError::Overflow)
    }
    fn minus(self, other: Self) -> Result<Self, ValueError> {
        self.checked_sub(other).ok_or(ValueError::Overflow)
    }
    fn times(self, other: Self) -> Result<Self, ValueError> {
        self.checked_mul(other).ok_or(ValueError::Overflow)
    }
    fn over(self, other: Self) -> Result<Self, ValueError> {
        self.checked_div(other).ok_or(ValueError::Overflow)
    }
}

/// Adds `amount` to `slot`, checked.
pub(crate) fn add_to(slot: &mut Decimal, amount: Decimal) -> Result<(), ValueError> {
    *slot = slot.plus(amount)?;
    Ok(())
}

/// `-amount`: a decimal's sign is one bit, so negation cannot overflow.
#[allow(clippy::arithmetic_side_effects)]
pub(crate) fn negated(amount: Decimal) -> Decimal {
    -amount
}

/// Adds one to a counter; counters saturate (they count events, never money).
pub(crate) fn inc(n: &mut u64) {
    *n = n.saturating_add(1);
}

/// What went wrong with a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValueError {
    /// Two different assets met in arithmetic.
    #[error("cannot combine {left} with {right}: different assets")]
    AssetMismatch {
        /// The left-hand asset.
        left: Asset,
        /// The right-hand asset.
        right: Asset,
    },
    /// A currency code that is not three letters (with, for a currency of
    /// one's own, at most [`MAX_MINOR_UNITS`] minor units).
    #[error(
        "{0:?} is not a currency (three letters, such as \"USD\", or a currency of your own with its minor units, such as \"PTS/2\")"
    )]
    BadCurrency(String),
    /// Three letters that ISO 4217 does not list with a minor unit.
    #[error(
        "{0:?} is not an ISO 4217 currency; declare a currency of your own with its minor units, such as \"{0}/2\""
    )]
    UnknownCurrency(String),
    /// A code of ISO 4217 declared with other minor units than the standard's.
    #[error("{code} has {iso} minor units by ISO 4217, not {declared}")]
    MinorUnitsDisagree {
        /// The code.
        code: String,
        /// The minor units declared.
        declared: u8,
        /// The standard's.
        iso: u8,
    },
    /// Text that names no asset.
    #[error(
        "{0:?} is not an asset (try \"USD\", \"points\", \"unit:MB\", \"entitlement:premium_month\" or \"discount\")"
    )]
    BadAsset(String),
    /// Text that is not `<amount> <asset>`.
    #[error("{0:?} is not a value (an amount, a space and an asset, such as \"500 unit:MB\")")]
    BadValue(String),
    /// A result too large for a decimal.
    #[error("arithmetic overflow")]
    Overflow,
    /// An amount above [`MAX_AMOUNT`].
    #[error("{0} is above the largest amount taken ({MAX_AMOUNT})")]
    TooLarge(Value),
    /// An amount finer than its asset's scale.
    #[error("{} is finer than its asset allows ({scale} decimal places)", value.to_canonical())]
    TooFine {
        /// The value.
        value: Value,
        /// The decimal places its asset allows.
        scale: u32,
    },
    /// A split with no positive weight.
    #[error("cannot split by weights that are all zero")]
    NothingToSplit,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usd(cents: i64) -> Value {
        Value::money("USD", Decimal::new(cents, 2)).unwrap()
    }

    #[test]
    fn percent_rounds_half_even_by_default() {
        assert_eq!(usd(1).percent(Decimal::from(50), Rounding::HalfEven).unwrap(), usd(0));
        assert_eq!(usd(3).percent(Decimal::from(50), Rounding::HalfEven).unwrap(), usd(2));
        assert_eq!(usd(1).percent(Decimal::from(50), Rounding::HalfUp).unwrap(), usd(1));
        assert_eq!(usd(199).percent(Decimal::from(50), Rounding::Down).unwrap(), usd(99));
    }

    #[test]
    fn split_adds_up_exactly() {
        let parts = usd(100).split(&[Decimal::ONE; 3]).unwrap();
        assert_eq!(parts, vec![usd(34), usd(33), usd(33)]);
        let parts = usd(-100).split(&[Decimal::ONE; 3]).unwrap();
        let sum: Decimal = parts.iter().map(Value::amount).sum();
        assert_eq!(sum, Decimal::new(-100, 2));
        assert_eq!(usd(1).split(&[Decimal::ZERO]), Err(ValueError::NothingToSplit));
    }

    #[test]
    fn values_round_trip_through_text() {
        for text in
            ["500 unit:MB", "12.50 USD", "10 points", "3 points:karma", "1 entitlement:premium_month", "10 discount"]
        {
            let v: Value = text.parse().unwrap();
            assert_eq!(v.to_canonical(), text);
        }
        assert!("12 usd".parse::<Value>().is_err());
        assert!("12".parse::<Value>().is_err());
        assert!("x USD".parse::<Value>().is_err());
    }

    #[test]
    fn currencies_know_their_minor_units() {
        assert_eq!("kwd".parse::<Currency>().unwrap().minor_units(), 3);
        assert_eq!("UYW".parse::<Currency>().unwrap().minor_units(), 4);
        assert!("US".parse::<Currency>().is_err());
        assert!("U$D".parse::<Currency>().is_err());
        assert_eq!("USS".parse::<Currency>(), Err(ValueError::UnknownCurrency("USS".into())));
        assert!(matches!("XAU".parse::<Currency>(), Err(ValueError::UnknownCurrency(_))));
        assert!(matches!(Currency::new("CLF", 2), Err(ValueError::MinorUnitsDisagree { iso: 4, .. })));
        assert!("PTS/5".parse::<Currency>().is_err());
    }

    /// A currency, and a value or asset in it, reads back as written: its
    /// minor units included (before, a currency outside the crate's table
    /// came back with two).
    #[test]
    fn every_currency_round_trips_through_text() {
        for c in [Currency::new("CLF", 4).unwrap(), Currency::new("PTS", 0).unwrap(), Currency::new("XAU", 3).unwrap()]
        {
            assert_eq!(c.to_string().parse::<Currency>().unwrap(), c);
            let v = Value::new(Asset::Money(c), Decimal::new(20000, 4));
            assert_eq!(v.to_canonical().parse::<Value>().unwrap(), v);
            assert_eq!(Asset::Money(c).to_string().parse::<Asset>().unwrap(), Asset::Money(c));
        }
        assert_eq!(Value::new(Asset::Money("PTS/0".parse().unwrap()), Decimal::from(7)).to_string(), "7 PTS");
    }
}
