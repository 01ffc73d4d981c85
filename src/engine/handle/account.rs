//! Accounts and payouts: suspending and reinstating a participant, redeeming
//! catalog items, paying out available balances.

use rust_decimal::Decimal;

use crate::domain::id::{ParticipantId, PayoutId};
use crate::domain::ledger::{Bucket, EntryKind};
use crate::domain::state::PayoutBatch;
use crate::domain::value::{Asset, Value, inc, negated};
use crate::engine::cx::*;
use crate::engine::ledger;
use crate::engine::page::Resume;
use crate::error::{Error, Refusal};
use crate::event::Notice;
use crate::store::Key;

pub(crate) fn set_suspended(cx: &mut Cx<'_, '_>, id: &ParticipantId, suspended: bool) -> Result<(), Error> {
    let key = Key::participant(cx.program.id(), id);
    match cx.tx.read_with(&key, |p| p.map(|p| p.suspended))? {
        None => return Err(Refusal::UnknownParticipant(id.clone()).into()),
        Some(already) if already == suspended => return Ok(()),
        Some(_) => cx.update_participant(id, |p| {
            p.suspended = suspended;
            Ok(())
        })?,
    }
    cx.out.notices.push(if suspended {
        Notice::Suspended { participant: id.clone() }
    } else {
        Notice::Reinstated { participant: id.clone() }
    });
    Ok(())
}

pub(crate) fn redeem(cx: &mut Cx<'_, '_>, id: &ParticipantId, item_id: &str) -> Result<(), Error> {
    let item = cx.program.catalog_item(item_id).ok_or_else(|| Refusal::UnknownItem(item_id.to_owned()))?.clone();
    let p = cx.known_participant(id)?;
    if p.suspended {
        return Err(Refusal::Suspended(id.clone()).into());
    }
    let taken = cx.state_mut()?.redeemed_items.get(item_id).copied().unwrap_or(0);
    if item.stock.is_some_and(|s| taken >= s) {
        return Err(Refusal::OutOfStock(item_id.to_owned()).into());
    }
    let available = p.balance(item.price.asset()).available;
    if available < item.price.amount() {
        return Err(
            Refusal::InsufficientBalance { participant: id.clone(), available, price: item.price.clone() }.into()
        );
    }
    inc(cx.state_mut()?.redeemed_items.get_or_default(item_id.to_owned()));
    let why = format!("redeemed {} for {item_id:?}", item.price);
    let kind = EntryKind::Redemption(item_id.to_owned());
    ledger::post(
        cx,
        id,
        &item.price.with_amount(negated(item.price.amount())),
        Bucket::Available,
        kind.clone(),
        None,
        &why,
    )?;
    ledger::post(cx, id, &item.price, Bucket::Redeemed, kind.clone(), None, &why)?;
    if let Some(gives) = &item.gives {
        ledger::post(cx, id, gives, Bucket::Available, kind, None, &format!("{item_id:?} gives {gives}"))?;
    }
    cx.out.notices.push(Notice::Redeemed {
        participant: id.clone(),
        item: item_id.to_owned(),
        price: item.price.clone(),
    });
    Ok(())
}

/// The most participants one `Payout` event reads and pays; a batch with
/// more goes on in the next `Payout` event of the same id.
pub const PAYOUT_PAGE: usize = 1_000;

pub(crate) fn payout(
    cx: &mut Cx<'_, '_>,
    payout: &PayoutId,
    asset: &Asset,
    minimum: Option<Decimal>,
) -> Result<(), Error> {
    // Payouts are of money, in the program's currency; points and units
    // are redeemed, not paid.
    let currency = Asset::Money(cx.program.terms().currency);
    if asset != &currency {
        return Err(Refusal::CurrencyMismatch { expected: currency, found: asset.clone() }.into());
    }
    if let Some(m) = minimum {
        let floor = Value::new(asset.clone(), m);
        if m < Decimal::ZERO {
            return Err(Refusal::InvalidAmount(floor).into());
        }
        floor.check_bounds()?;
    }
    let batch_key = Key::payout(cx.program.id(), payout);
    let batch = cx.tx.get(&batch_key)?;
    if batch.as_ref().is_some_and(PayoutBatch::is_finished) {
        return Err(Refusal::DuplicatePayout(payout.clone()).into());
    }
    // One page of participants per event, from where this batch stopped.
    let after = batch.and_then(|b| b.resume_after).map(Key::from_stored);
    let participants = Key::participants(cx.program.id());
    let resume = Resume::new(participants.range().clone(), after, PAYOUT_PAGE);
    let mut page = cx.tx.scan(&participants.narrowed(resume.range.clone()), resume.fetch())?;
    let more = resume.cut(&mut page);
    let last = page.last().map(|(k, _)| k.key().as_str().to_owned());
    let floor = minimum.unwrap_or(Decimal::ZERO);
    for (_, p) in page {
        // A suspended participant keeps their balance until reinstated.
        if p.suspended {
            continue;
        }
        let available = p.balance(asset).available;
        if available <= Decimal::ZERO || available < floor {
            continue;
        }
        let value = Value::new(asset.clone(), available);
        let why = format!("payout {payout} of {value}");
        ledger::post(
            cx,
            &p.id,
            &value.with_amount(negated(available)),
            Bucket::Available,
            EntryKind::Payout(payout.clone()),
            None,
            &why,
        )?;
        ledger::post(cx, &p.id, &value, Bucket::Paid, EntryKind::Payout(payout.clone()), None, &why)?;
        cx.out.notices.push(Notice::PaidOut { participant: p.id.clone(), payout: payout.clone(), value });
    }
    match last.filter(|_| more) {
        Some(last) => {
            cx.out.notices.push(Notice::PayoutContinues { payout: payout.clone() });
            cx.tx.put(batch_key, PayoutBatch::under_way(last))
        }
        None => cx.tx.put(batch_key, PayoutBatch::finished()),
    }
}
