"""Members: upsert by external id or social account, social links, consent history, referrals, merge, export, erasure.

Identity races (twenty upserts of one new member at once) are settled by a transaction-level advisory
lock per identity, taken in a fixed order; referral links by one lock per brand, so two concurrent links
can never close a cycle between them, taken before any member row is locked (see ``_lock_for_referral``).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from solomo.auth.member_tokens import MemberTokenCodec
from solomo.auth.principal import Principal, Role
from solomo.checkins.service import CheckinService
from solomo.coupons.lifecycle import erase_member_coupons, export_member_coupons, merge_member_coupons
from solomo.db.models import ConsentEvent, Member, RequestBudget, SocialAccount
from solomo.errors import ApiError, conflict, invalid, not_found
from solomo.geo.crs import WGS84_CRS, Crs
from solomo.members.export import stream_export
from solomo.members.referral_codes import new_referral_code, normalise
from solomo.members.schemas import (
    Consent,
    ConsentEventOut,
    ConsentIn,
    ConsentState,
    MemberExportHead,
    MemberOut,
    MemberPage,
    MemberPatch,
    MemberToken,
    MemberUpsert,
    SocialAccountIn,
    SocialAccountOut,
)
from solomo.offers.lifecycle import erase_member_offers, merge_member_offers
from solomo.ops.budgets import member_subject
from solomo.pagination import newest_first_page, split_page
from solomo.webhooks.lifecycle import enqueue_event, erase_member_webhooks

_LOCK = text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))")
#: Referral chains longer than this are refused rather than walked for ever.
MAX_REFERRAL_DEPTH = 1000
_ANCESTORS = text(
    """
    WITH RECURSIVE up(id, depth) AS (
        SELECT CAST(:start AS uuid), 0
        UNION ALL
        SELECT m.referred_by_id, up.depth + 1
        FROM members m JOIN up ON m.id = up.id
        WHERE m.brand_id = :brand_id AND m.referred_by_id IS NOT NULL AND up.depth < :max_depth
    )
    SELECT id FROM up
    """
)


def _social_out(account: SocialAccount) -> SocialAccountOut:
    return SocialAccountOut(
        provider=account.provider,  # type: ignore[arg-type]
        uid=account.uid,
        union_id=account.union_id,
        handle=account.handle,
        followers=account.followers,
        linked_at=account.linked_at,
    )


class MemberService:
    def __init__(self, session: AsyncSession, principal: Principal) -> None:
        self.session = session
        self.principal = principal
        self.brand_id = principal.brand_id

    # -- output -----------------------------------------------------------------------------
    def _out(self, member: Member, accounts: Sequence[SocialAccount]) -> MemberOut:
        out = MemberOut(
            id=member.id,
            external_id=member.external_id,
            display_name=member.display_name,
            tier=member.tier,
            tags=list(member.tags),
            consent=Consent(
                location=ConsentState(member.consent_location, member.consent_location_at),
                marketing=ConsentState(member.consent_marketing, member.consent_marketing_at),
            ),
            referral_code=member.referral_code,
            referred_by=member.referred_by_id,
            joined_at=member.joined_at,
            social_accounts=[_social_out(a) for a in sorted(accounts, key=lambda a: (a.provider, a.uid))],
            created_at=member.created_at,
            updated_at=member.updated_at,
        )
        # Marketers work with segments, not people: personal contact data is for admins and the member.
        if self.principal.role in (Role.ADMIN, Role.MEMBER):
            out.phone = member.phone
            out.email = member.email
        return out

    async def _accounts(self, member_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[SocialAccount]]:
        rows = await self.session.scalars(
            select(SocialAccount).where(
                SocialAccount.brand_id == self.brand_id, SocialAccount.member_id.in_(member_ids)
            )
        )
        found: dict[uuid.UUID, list[SocialAccount]] = {m: [] for m in member_ids}
        for account in rows:
            found[account.member_id].append(account)
        return found

    async def _render(self, member: Member) -> MemberOut:
        await self.session.flush()
        await self.session.refresh(member)
        return self._out(member, (await self._accounts([member.id]))[member.id])

    # -- look-ups ---------------------------------------------------------------------------
    async def _find(self, member_id: uuid.UUID, *, for_update: bool = False) -> Member:
        """A live member of this brand; a merged id answers 404 pointing at the survivor."""
        query = select(Member).where(Member.id == member_id, Member.brand_id == self.brand_id)
        if for_update:
            query = query.with_for_update()
        member = await self.session.scalar(query.execution_options(populate_existing=True))
        if member is None:
            raise not_found("member")
        if member.merged_into_id is not None:
            survivor = await self._survivor_of(member)
            raise ApiError(
                404, "member_merged", f"member was merged into {survivor}", extra={"merged_into": str(survivor)}
            )
        if member.erased_at is not None:
            raise ApiError(404, "member_erased", "member was erased")
        return member

    async def _survivor_of(self, member: Member) -> uuid.UUID:
        current = member
        for _ in range(100):  # merge chains are short; the bound only guards against a corrupt loop
            if current.merged_into_id is None:
                return current.id
            nxt = await self.session.get(Member, (current.brand_id, current.merged_into_id))
            if nxt is None:
                break
            current = nxt
        return current.id

    async def _lock(self, *keys: str) -> None:
        for key in sorted(keys):
            await self.session.execute(_LOCK, {"key": f"{self.brand_id}:{key}"})

    async def _resolve_referrer(self, referrer: str, field: str = "referred_by") -> Member:
        try:
            as_id: uuid.UUID | None = uuid.UUID(referrer)
        except ValueError:
            as_id = None
        condition = Member.id == as_id if as_id else Member.referral_code == normalise(referrer)
        found = await self.session.scalar(
            select(Member).where(Member.brand_id == self.brand_id, condition, Member.erased_at.is_(None))
        )
        if found is None:
            raise invalid(field, "no member of this brand has that id or referral code")
        if found.merged_into_id is not None:
            found = await self._find(await self._survivor_of(found))
        return found

    async def _ancestors(self, member_id: uuid.UUID) -> set[uuid.UUID]:
        rows = await self.session.execute(
            _ANCESTORS, {"start": member_id, "brand_id": self.brand_id, "max_depth": MAX_REFERRAL_DEPTH}
        )
        return {r.id for r in rows}

    async def _lock_for_referral(self, member_id: uuid.UUID, referrer_ref: str) -> tuple[Member, Member]:
        """The member and the referrer it names, locked for a referral link.

        Lock order: the brand's referral lock first, then both member rows in id order in one statement. Two
        opposite links (A referred by B, B by A) then queue on the first lock; before, each held its own row and
        waited for the referral lock while the other's foreign-key check waited for that row: a deadlock.
        """
        await self._find(member_id)  # an unknown member is a 404 before its referrer is looked at
        await self._lock("referrals")
        referrer = await self._resolve_referrer(referrer_ref)
        await self.session.execute(
            select(Member.id)
            .where(Member.brand_id == self.brand_id, Member.id.in_({member_id, referrer.id}))
            .order_by(Member.id)
            .with_for_update()
        )
        member = await self._find(member_id)
        # Erasure does not take the referral lock: read the referrer again now that its row is ours.
        await self.session.refresh(referrer)
        if referrer.erased_at is not None:
            raise invalid("referred_by", "no member of this brand has that id or referral code")
        return member, referrer

    async def _set_referrer(self, member: Member, referrer: Member) -> None:
        """Link the referrer once: never the member itself, never closing a cycle. The referral lock is held."""
        if member.referred_by_id is not None:
            if member.referred_by_id == referrer.id:
                return
            raise conflict("referrer_already_set", "the member already has a referrer")
        if referrer.id == member.id:
            raise invalid("referred_by", "a member cannot refer itself")
        if member.id in await self._ancestors(referrer.id):
            raise invalid("referred_by", "that referrer was referred (directly or not) by this member: a cycle")
        member.referred_by_id = referrer.id

    async def _apply_consent(self, member: Member, consent: ConsentIn) -> None:
        """Record each consent that changes (or is stated for the first time) with the time, as history."""
        now = datetime.now(UTC)
        for kind in ("location", "marketing"):
            wanted = getattr(consent, kind)
            if not isinstance(wanted, bool):
                continue
            if getattr(member, f"consent_{kind}") == wanted and getattr(member, f"consent_{kind}_at") is not None:
                continue
            setattr(member, f"consent_{kind}", wanted)
            setattr(member, f"consent_{kind}_at", now)
            self.session.add(
                ConsentEvent(brand_id=self.brand_id, member_id=member.id, kind=kind, granted=wanted, at=now)
            )

    async def _create(self, data: MemberUpsert) -> Member:
        for _ in range(3):
            member = Member(
                brand_id=self.brand_id,
                external_id=data.external_id,
                referral_code=new_referral_code(),
            )
            try:
                async with self.session.begin_nested():
                    self.session.add(member)
                    await self.session.flush()
                return member
            except IntegrityError as exc:
                if "referral_code" not in str(exc.orig):
                    raise
        msg = "could not draw an unused referral code"
        raise RuntimeError(msg)

    # -- use cases --------------------------------------------------------------------------
    async def upsert(self, data: MemberUpsert) -> tuple[MemberOut, bool]:
        if data.external_id is None and data.social_account is None:
            raise invalid("external_id", "give an external_id or a social_account to identify the member")
        keys = []
        if data.external_id is not None:
            keys.append(f"ext:{data.external_id}")
        if data.social_account is not None:
            keys.append(f"social:{data.social_account.provider}:{data.social_account.uid}")
        if data.referred_by is not None:
            # Before any member row is written, as ``_lock_for_referral`` orders it (advisory locks sort by key).
            keys.append("referrals")
        await self._lock(*keys)

        member, linked = await self._identify(data)
        created = member is None
        if member is None:
            member = await self._create(data)
        elif data.external_id is not None and member.external_id != data.external_id:
            if member.external_id is not None:
                raise conflict(
                    "external_id_conflict",
                    f"the social account belongs to member {member.id}, whose external_id is another",
                    member_id=str(member.id),
                )
            member.external_id = data.external_id
        if data.social_account is not None:
            await (self._refresh_account(data.social_account) if linked else self._link(member, data.social_account))
        await self._apply_profile(member, data)
        if created:
            await enqueue_event(
                self.session,
                self.brand_id,
                "member.created",
                member.id,
                {"member_id": member.id, "external_id": member.external_id, "created_at": member.created_at},
            )
        return await self._render(member), created

    async def _identify(self, data: MemberUpsert) -> tuple[Member | None, bool]:
        """The member these identities name (if any), and whether the social account is already linked to it."""
        by_external = None
        if data.external_id is not None:
            by_external = await self.session.scalar(
                select(Member).where(Member.brand_id == self.brand_id, Member.external_id == data.external_id)
            )
            if by_external is not None and by_external.merged_into_id is not None:
                by_external = await self._find(await self._survivor_of(by_external))
        by_social = None
        if data.social_account is not None:
            account = await self._account(data.social_account.provider, data.social_account.uid)
            by_social = await self._find(account.member_id) if account else None
        if by_external and by_social and by_external.id != by_social.id:
            raise _social_taken(by_social.id)
        return by_external or by_social, by_social is not None

    async def _apply_profile(self, member: Member, data: MemberUpsert) -> None:
        for field in ("display_name", "phone", "email", "tier"):
            value = getattr(data, field)
            if value is not None:
                setattr(member, field, value)
        if data.tags is not None:
            member.tags = sorted(set(data.tags))
        if data.joined_at is not None:
            # The brand's back end knows when the member really joined (an import from its CRM, say).
            member.joined_at = data.joined_at
        if data.consent is not None:
            await self._apply_consent(member, data.consent)
        if data.referred_by is not None:
            await self._set_referrer(member, await self._resolve_referrer(data.referred_by))

    async def get(self, member_id: uuid.UUID) -> MemberOut:
        return await self._render(await self._find(member_id))

    async def update(self, member_id: uuid.UUID, patch: MemberPatch) -> MemberOut:
        referrer = None
        if isinstance(patch.referred_by, str):
            member, referrer = await self._lock_for_referral(member_id, patch.referred_by)
        else:
            member = await self._find(member_id, for_update=True)
        changes = patch.changes()
        for field in ("display_name", "phone", "email", "tier"):
            if field in changes:
                setattr(member, field, changes[field])
        if isinstance(patch.tags, list):
            member.tags = sorted(set(patch.tags))
        if isinstance(patch.consent, ConsentIn):
            await self._apply_consent(member, patch.consent)
        if referrer is not None:
            await self._set_referrer(member, referrer)
        return await self._render(member)

    async def page(
        self,
        *,
        limit: int,
        cursor: str | None,
        tag: str | None,
        tier: str | None,
        provider: str | None,
        joined_from: datetime | None,
        joined_to: datetime | None,
    ) -> MemberPage:
        query = select(Member).where(
            Member.brand_id == self.brand_id, Member.merged_into_id.is_(None), Member.erased_at.is_(None)
        )
        if tag:
            query = query.where(Member.tags.contains([tag]))
        if tier:
            query = query.where(Member.tier == tier)
        if provider:
            query = query.where(
                select(SocialAccount.id)
                .where(
                    SocialAccount.brand_id == self.brand_id,
                    SocialAccount.member_id == Member.id,
                    SocialAccount.provider == provider,
                )
                .exists()
            )
        if joined_from:
            query = query.where(Member.joined_at >= joined_from)
        if joined_to:
            query = query.where(Member.joined_at < joined_to)
        rows = (await self.session.scalars(newest_first_page(query, Member, cursor, limit))).all()
        members, next_cursor = split_page(rows, limit)
        accounts = await self._accounts([m.id for m in members])
        return MemberPage(items=[self._out(m, accounts[m.id]) for m in members], next_cursor=next_cursor)

    # -- social accounts --------------------------------------------------------------------
    async def _account(self, provider: str, uid: str) -> SocialAccount | None:
        account: SocialAccount | None = await self.session.scalar(
            select(SocialAccount).where(
                SocialAccount.brand_id == self.brand_id, SocialAccount.provider == provider, SocialAccount.uid == uid
            )
        )
        return account

    async def _link(self, member: Member, data: SocialAccountIn) -> SocialAccount:
        account = SocialAccount(
            brand_id=self.brand_id,
            member_id=member.id,
            provider=data.provider,
            uid=data.uid,
            union_id=data.union_id,
            handle=data.handle,
            followers=data.followers,
        )
        self.session.add(account)
        await self.session.flush()
        await self.session.refresh(account)
        return account

    async def _refresh_account(self, data: SocialAccountIn) -> SocialAccount:
        account = await self._account(data.provider, data.uid)
        assert account is not None
        for field in ("union_id", "handle", "followers"):
            value = getattr(data, field)
            if value is not None:
                setattr(account, field, value)
        return account

    async def link_social(self, member_id: uuid.UUID, data: SocialAccountIn) -> tuple[SocialAccountOut, bool]:
        await self._lock(f"social:{data.provider}:{data.uid}")
        member = await self._find(member_id)
        existing = await self._account(data.provider, data.uid)
        if existing is not None and existing.member_id != member.id:
            raise _social_taken(existing.member_id)
        if existing is not None:
            account = await self._refresh_account(data)
            await self.session.flush()
            await self.session.refresh(account)
            return _social_out(account), False
        return _social_out(await self._link(member, data)), True

    async def unlink_social(self, member_id: uuid.UUID, provider: str, uid: str) -> None:
        member = await self._find(member_id)
        result = await self.session.execute(
            delete(SocialAccount)
            .where(
                SocialAccount.brand_id == self.brand_id,
                SocialAccount.member_id == member.id,
                SocialAccount.provider == provider,
                SocialAccount.uid == uid,
            )
            .returning(SocialAccount.id)
        )
        if result.first() is None:
            raise not_found("social account")

    # -- merge, export, erasure -------------------------------------------------------------
    async def merge(self, survivor_id: uuid.UUID, from_id: uuid.UUID) -> MemberOut:
        """Fold ``from_id`` into ``survivor_id``: nothing is lost, the old id points at the survivor."""
        if survivor_id == from_id:
            raise invalid("from", "a member cannot be merged into itself")
        await self._lock("referrals")
        # Row locks in id order, so two merges of the same pair cannot deadlock.
        first, second = sorted([survivor_id, from_id])
        locked = {
            m.id: m for m in [await self._find(first, for_update=True), await self._find(second, for_update=True)]
        }
        survivor, merged = locked[survivor_id], locked[from_id]

        referrer = survivor.referred_by_id or merged.referred_by_id
        if referrer in (survivor.id, merged.id):
            raise conflict(
                "referral_cycle", "one member referred the other: merging them would refer a member to itself"
            )
        if referrer is not None and {survivor.id, merged.id} & await self._ancestors(referrer):
            raise conflict("referral_cycle", "merging would close a cycle in the referral chain")

        await self.session.execute(
            update(SocialAccount)
            .where(SocialAccount.brand_id == self.brand_id, SocialAccount.member_id == merged.id)
            .values(member_id=survivor.id)
        )
        await self.session.execute(
            update(ConsentEvent)
            .where(ConsentEvent.brand_id == self.brand_id, ConsentEvent.member_id == merged.id)
            .values(member_id=survivor.id)
        )
        await self.session.execute(
            update(Member)
            .where(Member.brand_id == self.brand_id, Member.referred_by_id == merged.id)
            .values(referred_by_id=survivor.id)
        )
        await CheckinService(self.session, self.principal).merge_members(survivor.id, merged.id)
        await merge_member_offers(self.session, self.brand_id, survivor.id, merged.id)
        await merge_member_coupons(self.session, self.brand_id, survivor.id, merged.id)
        for field in ("display_name", "phone", "email", "tier"):
            if getattr(survivor, field) is None:
                setattr(survivor, field, getattr(merged, field))
        survivor.tags = sorted(set(survivor.tags) | set(merged.tags))
        survivor.referred_by_id = referrer
        survivor.joined_at = min(survivor.joined_at, merged.joined_at)
        for kind in ("location", "marketing"):
            # The more recent decision is the member's current one.
            mine, theirs = getattr(survivor, f"consent_{kind}_at"), getattr(merged, f"consent_{kind}_at")
            if theirs is not None and (mine is None or theirs > mine):
                setattr(survivor, f"consent_{kind}", getattr(merged, f"consent_{kind}"))
                setattr(survivor, f"consent_{kind}_at", theirs)
        moved_external_id = survivor.external_id is None and merged.external_id is not None
        external_id = merged.external_id
        # The merged row keeps only the pointer; its personal data now lives on the survivor.
        merged.merged_into_id = survivor.id
        merged.referred_by_id = None
        for field in ("display_name", "phone", "email", "tier", "referral_code"):
            setattr(merged, field, None)
        merged.tags = []
        merged.token_version += 1
        if moved_external_id:
            merged.external_id = None
            await self.session.flush()
            survivor.external_id = external_id
        await enqueue_event(
            self.session,
            self.brand_id,
            "member.merged",
            survivor.id,
            {"member_id": survivor.id, "merged_member_id": merged.id, "merged_at": datetime.now(UTC)},
        )
        return await self._render(survivor)

    async def export(self, member_id: uuid.UUID, *, crs: Crs = WGS84_CRS) -> AsyncIterator[bytes]:
        """A 404 now for a member that is not there; then the whole document, streamed (solomo/members/export.py),
        its coordinates in ``crs``."""
        member = await self._find(member_id)
        return stream_export(self.session, self.brand_id, member.id, lambda: self._export_head(member.id), crs)

    async def _export_head(self, member_id: uuid.UUID) -> MemberExportHead:
        member = await self._find(member_id)  # again: the stream reads in a transaction (and snapshot) of its own
        history = await self.session.scalars(
            select(ConsentEvent)
            .where(ConsentEvent.brand_id == self.brand_id, ConsentEvent.member_id == member.id)
            .order_by(ConsentEvent.at, ConsentEvent.id)
        )
        referred = await self.session.scalars(
            select(Member.id)
            .where(Member.brand_id == self.brand_id, Member.referred_by_id == member.id)
            .order_by(Member.id)
        )
        merged_from = await self.session.scalars(
            select(Member.id)
            .where(Member.brand_id == self.brand_id, Member.merged_into_id == member.id)
            .order_by(Member.id)
        )
        coupons, shares = await export_member_coupons(self.session, self.brand_id, member.id)
        return MemberExportHead(
            member=await self._render(member),
            coupons=coupons,
            shares=shares,
            consent_history=[ConsentEventOut(e.kind, e.granted, e.at) for e in history],  # type: ignore[arg-type]
            referred_members=list(referred),
            merged_from=list(merged_from),
            exported_at=datetime.now(UTC),
        )

    async def erase(self, member_id: uuid.UUID) -> None:
        """Erasure: personal data, social links and consent history go; an anonymous tombstone stays for stats."""
        member = await self._find(member_id, for_update=True)
        ids = [member.id, *(await self.session.scalars(select(Member.id).where(Member.merged_into_id == member.id)))]
        await self.session.execute(
            delete(SocialAccount).where(SocialAccount.brand_id == self.brand_id, SocialAccount.member_id.in_(ids))
        )
        await self.session.execute(
            delete(ConsentEvent).where(ConsentEvent.brand_id == self.brand_id, ConsentEvent.member_id.in_(ids))
        )
        await self.session.execute(
            update(Member)
            .where(Member.brand_id == self.brand_id, Member.id.in_(ids))
            .values(
                external_id=None,
                display_name=None,
                phone=None,
                email=None,
                tier=None,
                tags=[],
                referral_code=None,
                consent_location=False,
                consent_location_at=None,
                consent_marketing=False,
                consent_marketing_at=None,
                token_version=Member.token_version + 1,
                updated_at=func.now(),
            )
        )
        await self.session.execute(
            delete(RequestBudget).where(
                RequestBudget.brand_id == self.brand_id, RequestBudget.subject.in_([member_subject(i) for i in ids])
            )
        )
        await CheckinService(self.session, self.principal).erase_members(ids)
        await erase_member_offers(self.session, self.brand_id, ids)
        await erase_member_coupons(self.session, self.brand_id, ids)
        await erase_member_webhooks(self.session, self.brand_id, ids)
        await self.session.execute(
            update(Member).where(Member.brand_id == self.brand_id, Member.id == member.id).values(erased_at=func.now())
        )
        await enqueue_event(
            self.session,
            self.brand_id,
            "member.erased",
            member.id,
            {"member_id": member.id, "erased_at": datetime.now(UTC)},
        )

    async def mint_token(self, member_id: uuid.UUID, codec: MemberTokenCodec) -> MemberToken:
        member = await self._find(member_id)
        token, expires_at = codec.mint(self.brand_id, member.id, member.token_version)
        return MemberToken(token=token, token_type="Bearer", expires_at=expires_at)


def _social_taken(owner: uuid.UUID) -> ApiError:
    return conflict(
        "social_account_taken",
        f"that social account is linked to member {owner}; merge the two members to combine them",
        member_id=str(owner),
    )
