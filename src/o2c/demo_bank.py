"""A camt.053.001.08 bank-to-customer statement written for the demo (and the tests): the bank's
end-of-day statement of the company's account, with the entries asked for, balances that add up and
the transaction summary, as a bank would send it for `o2c import statement`."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal as D
from xml.sax.saxutils import escape

NS = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"
ACCOUNT = "DE02120300000000202051"  # the company's account at its bank (a published example IBAN)


@dataclass(frozen=True)
class Entry:
    amount: str  # signed: money in is positive
    name: str | None = None  # the debtor (money in) or creditor (money out)
    iban: str | None = None
    text: str | None = None  # RmtInf/Ustrd
    reference: str | None = None  # RmtInf/Strd/CdtrRefInf/Ref
    booked: date = date(2026, 12, 4)


def _party(e: Entry, credit: bool) -> str:
    who, acct = ("Dbtr", "DbtrAcct") if credit else ("Cdtr", "CdtrAcct")
    out = ""
    if e.name:
        out += f"<{who}><Pty><Nm>{escape(e.name)}</Nm></Pty></{who}>"
    if e.iban:
        out += f"<{acct}><Id><IBAN>{e.iban}</IBAN></Id></{acct}>"
    return f"<RltdPties>{out}</RltdPties>" if out else ""


def _remittance(e: Entry) -> str:
    parts = ""
    if e.text:
        parts += f"<Ustrd>{escape(e.text)}</Ustrd>"
    if e.reference:
        parts += f"<Strd><CdtrRefInf><Ref>{escape(e.reference)}</Ref></CdtrRefInf></Strd>"
    return f"<RmtInf>{parts}</RmtInf>" if parts else ""


def statement(entries: list[Entry], *, stmt_id: str = "STMT-2026-12-04", sequence: int = 1,
              opening: str = "1000.00", currency: str = "USD", day: date = date(2026, 12, 4),
              account: str = ACCOUNT) -> bytes:
    net = sum((D(e.amount) for e in entries), D(0))
    closing = D(opening) + net
    ntries = []
    for i, e in enumerate(entries, 1):
        amount = D(e.amount)
        credit = amount > 0
        ntries.append(f"""
    <Ntry>
      <NtryRef>{i}</NtryRef>
      <Amt Ccy="{currency}">{abs(amount)}</Amt>
      <CdtDbtInd>{'CRDT' if credit else 'DBIT'}</CdtDbtInd>
      <Sts><Cd>BOOK</Cd></Sts>
      <BookgDt><Dt>{e.booked.isoformat()}</Dt></BookgDt>
      <ValDt><Dt>{e.booked.isoformat()}</Dt></ValDt>
      <AcctSvcrRef>BANKREF-{stmt_id}-{i}</AcctSvcrRef>
      <BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>{'RCDT' if credit else 'ICDT'}</Cd><SubFmlyCd>ESCT</SubFmlyCd></Fmly></Domn></BkTxCd>
      <NtryDtls><TxDtls>
        <Refs><EndToEndId>NOTPROVIDED</EndToEndId></Refs>
        <Amt Ccy="{currency}">{abs(amount)}</Amt>
        {_party(e, credit)}
        {_remittance(e)}
      </TxDtls></NtryDtls>
    </Ntry>""")

    def bal(code: str, value: D) -> str:
        return (f"<Bal><Tp><CdOrPrtry><Cd>{code}</Cd></CdOrPrtry></Tp><Amt Ccy=\"{currency}\">{abs(value)}</Amt>"
                f"<CdtDbtInd>{'CRDT' if value >= 0 else 'DBIT'}</CdtDbtInd><Dt><Dt>{day.isoformat()}</Dt></Dt></Bal>")

    return f"""<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="{NS}">
  <BkToCstmrStmt>
    <GrpHdr><MsgId>MSG-{stmt_id}</MsgId><CreDtTm>{day.isoformat()}T18:00:00</CreDtTm></GrpHdr>
    <Stmt>
      <Id>{stmt_id}</Id>
      <ElctrncSeqNb>{sequence}</ElctrncSeqNb>
      <CreDtTm>{day.isoformat()}T18:00:00</CreDtTm>
      <Acct><Id><IBAN>{account}</IBAN></Id><Ccy>{currency}</Ccy></Acct>
      {bal('OPBD', D(opening))}
      {bal('CLBD', closing)}
      <TxsSummry><TtlNtries><NbOfNtries>{len(entries)}</NbOfNtries><TtlNetNtry><Amt>{abs(net)}</Amt>
        <CdtDbtInd>{'CRDT' if net >= 0 else 'DBIT'}</CdtDbtInd></TtlNetNtry></TtlNtries></TxsSummry>{''.join(ntries)}
    </Stmt>
  </BkToCstmrStmt>
</Document>
""".encode()
