-- solomo_claim_offer (version 3): a member claims a coupon from an offer, in one round trip.
-- Version 2 journals the claim for the stats (stats_pending) in the same transaction. Version 3 lets each grant
-- (offer_eligibility row, made by solomo_record_check_in) be claimed once.
--
-- Answer: {"status": "claimed", "coupon": {…}} or {"status": <refusal>, …}. A refusal after a write (a
-- limit reached) relies on the caller rolling the transaction back, which the API does for every error.
--
-- The rules, in order:
--   * the offer exists in the brand (else offer_not_found), is active and its campaign runs now;
--   * without a share code: a live grant (a check-in that fired the offer, within its window) not claimed
--     yet, and marketing consent. The claim spends the grant: a grant allows one coupon, and the next grant
--     comes on the next brand-local day, or with the next visit for an offer that grants on every visit.
--     The grant's row lock, taken first, makes concurrent claims of one grant queue, so one of them wins;
--     the others see it spent (or free again, if the winner rolled back). With a share code (waives *where* only): the code belongs to this offer, the offer
--     is shareable, the sharer is not the claimant, and the audience admits the member now (weekly hours
--     in the brand's time zone, as no store is involved);
--   * limits, exact under concurrency, each decided by the database under a row lock taken in a fixed
--     order (the grant, then the member's counter row, then one capacity slot):
--       - per member and per brand-local day: a conditional upsert on member_offer_claims;
--       - the total: one unit from one of the offer's 64 capacity slots, one that no other claim holds
--         (SKIP LOCKED), so concurrent claims do not queue on one hot row. A claim never blocks on a slot:
--         when every slot with room is busy it polls, and when none has room the offer is exhausted.
--   * the coupon copies the offer's terms; where it is redeemable is resolved to store ids now.
CREATE OR REPLACE FUNCTION solomo_claim_offer(
    p_brand uuid, p_member uuid, p_offer uuid, p_share_code text, p_code text
) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    o record;
    v_store uuid;
    v_checkin uuid;
    v_share uuid;
    v_referrer uuid;
    v_admitted boolean;
    v_spent boolean;
    v_day date;
    v_claimed integer;
    v_counts record;
    v_slot smallint;
    v_stores uuid[];
    v_coupon coupons;
BEGIN
    SELECT f.*, b.timezone AS brand_timezone,
           (c.status = 'active' AND now() >= c.starts_at AND now() < c.ends_at) AS running
      INTO o
      FROM offers f
      JOIN campaigns c ON c.brand_id = f.brand_id AND c.id = f.campaign_id
      JOIN brands b ON b.id = f.brand_id
     WHERE f.brand_id = p_brand AND f.id = p_offer;
    IF NOT FOUND THEN
        RETURN jsonb_build_object('status', 'offer_not_found');
    END IF;
    IF NOT (o.active AND o.running) THEN
        RETURN jsonb_build_object('status', 'not_eligible', 'reason', 'the offer is not running now');
    END IF;

    IF p_share_code IS NULL THEN
        SELECT e.store_id, e.checkin_id, m.consent_marketing, e.claimed_at IS NOT NULL
          INTO v_store, v_checkin, v_admitted, v_spent
          FROM offer_eligibility e
          JOIN members m ON m.brand_id = p_brand AND m.id = e.member_id
         WHERE e.member_id = p_member AND e.offer_id = p_offer AND e.brand_id = p_brand
           AND e.eligible_until > now()
           FOR UPDATE OF e;
        IF NOT FOUND THEN
            RETURN jsonb_build_object('status', 'not_eligible',
                                      'reason', 'no recent check-in has made this offer claimable');
        END IF;
        IF NOT v_admitted THEN
            RETURN jsonb_build_object('status', 'not_eligible', 'reason', 'the member has no marketing consent');
        END IF;
        IF v_spent THEN
            RETURN jsonb_build_object('status', 'not_eligible',
                                      'reason', 'the coupon of this visit is already claimed (one per grant: '
                                                'the next comes with a visit on another day, or the next visit '
                                                'when the offer grants on every visit)');
        END IF;
        UPDATE offer_eligibility SET claimed_at = now()
         WHERE brand_id = p_brand AND member_id = p_member AND offer_id = p_offer;
    ELSE
        SELECT sh.id, sh.member_id INTO v_share, v_referrer
          FROM offer_shares sh
         WHERE sh.code = p_share_code AND sh.brand_id = p_brand AND sh.offer_id = p_offer
           AND sh.revoked_at IS NULL;
        IF NOT FOUND OR NOT o.shareable THEN
            RETURN jsonb_build_object('status', 'share_code_invalid');
        END IF;
        IF v_referrer = p_member THEN
            RETURN jsonb_build_object('status', 'own_share_code');
        END IF;
        SELECT solomo_offer_admits(o.audience_tags, o.audience_tiers, o.audience_provider, o.min_followers,
                                   o.joined_within_days, o.weekly_hours, m.brand_id, m.id, m.tags, m.tier,
                                   m.joined_at, m.consent_marketing, now(), o.brand_timezone)
          INTO v_admitted
          FROM members m WHERE m.brand_id = p_brand AND m.id = p_member;
        IF NOT coalesce(v_admitted, false) THEN
            RETURN jsonb_build_object('status', 'not_eligible',
                                      'reason', 'the offer''s audience or hours do not admit this member now');
        END IF;
        -- A claim through a share may still come from a place: keep it when there is one.
        SELECT e.store_id, e.checkin_id INTO v_store, v_checkin
          FROM offer_eligibility e
         WHERE e.member_id = p_member AND e.offer_id = p_offer AND e.brand_id = p_brand
           AND e.eligible_until > now();
    END IF;

    v_day := (now() AT TIME ZONE o.brand_timezone)::date;
    INSERT INTO member_offer_claims AS mc (brand_id, member_id, offer_id, claimed, day, day_claimed)
    VALUES (p_brand, p_member, p_offer, 1, v_day, 1)
    ON CONFLICT (brand_id, member_id, offer_id) DO UPDATE
       SET claimed = mc.claimed + 1,
           day = excluded.day,
           day_claimed = CASE WHEN mc.day = excluded.day THEN mc.day_claimed + 1 ELSE 1 END
     WHERE mc.claimed < coalesce(o.per_member_limit, 2147483647)
       AND (mc.day <> excluded.day OR mc.day_claimed < coalesce(o.per_member_daily_limit, 2147483647))
    RETURNING mc.claimed INTO v_claimed;
    IF v_claimed IS NULL THEN
        -- ON CONFLICT locked the row even though its WHERE refused: this read is current.
        SELECT mc.claimed, mc.day_claimed INTO v_counts
          FROM member_offer_claims mc WHERE mc.brand_id = p_brand AND mc.member_id = p_member AND mc.offer_id = p_offer;
        IF v_counts.claimed >= coalesce(o.per_member_limit, 2147483647) THEN
            RETURN jsonb_build_object('status', 'member_limit', 'limit', 'per_member', 'claimed', v_counts.claimed);
        END IF;
        RETURN jsonb_build_object(
            'status', 'member_limit', 'limit', 'per_member_per_day', 'claimed', v_counts.day_claimed,
            'retry_after', ceil(extract(epoch FROM
                ((v_day + 1)::timestamp AT TIME ZONE o.brand_timezone) - now()))::integer);
    END IF;

    LOOP
        SELECT cap.slot INTO v_slot
          FROM offer_capacity cap
         WHERE cap.brand_id = p_brand AND cap.offer_id = p_offer AND cap.used < coalesce(cap.cap, 2147483647)
         ORDER BY random() LIMIT 1
           FOR UPDATE SKIP LOCKED;
        EXIT WHEN FOUND;
        IF NOT EXISTS (SELECT 1 FROM offer_capacity cap
                        WHERE cap.brand_id = p_brand AND cap.offer_id = p_offer
                          AND cap.used < coalesce(cap.cap, 2147483647)) THEN
            RETURN jsonb_build_object('status', 'offer_exhausted');
        END IF;
        -- Every slot with room is held by a claim in flight. Poll rather than queue on a slot's lock: in
        -- READ COMMITTED a row lock taken while waiting is kept even when the row turns out full, so two
        -- claims waiting on each other's full slots would deadlock (the race test found this).
        PERFORM pg_sleep(0.001);
    END LOOP;
    UPDATE offer_capacity SET used = used + 1 WHERE brand_id = p_brand AND offer_id = p_offer AND slot = v_slot;

    IF o.redeemable_at = 'targeted_stores' AND o.target = 'stores' THEN
        v_stores := o.store_ids;
    ELSIF o.redeemable_at = 'targeted_stores' AND o.target = 'geofences' THEN
        v_stores := ARRAY(SELECT DISTINCT g.store_id FROM geofences g
                          WHERE g.brand_id = p_brand AND g.id = ANY(o.geofence_ids) ORDER BY g.store_id);
    END IF;

    INSERT INTO coupons (brand_id, offer_id, member_id, code, title, coupon_kind, percent_off, amount_off, currency,
                         free_item, redeemable_at, redeemable_store_ids, requires_visit, claimed_at, claim_day,
                         expires_at, store_id, checkin_id, share_id, referrer_id)
    VALUES (p_brand, p_offer, p_member, p_code, o.title, o.coupon_kind, o.percent_off, o.amount_off, o.currency,
            o.free_item, o.redeemable_at, v_stores, o.requires_visit, now(), v_day,
            now() + make_interval(mins => o.validity_minutes), v_store, v_checkin, v_share, v_referrer)
    RETURNING * INTO v_coupon;
    INSERT INTO stats_pending (brand_id, kind, n, at, in_brand, store_ids, offer_id, member_id, referrer_id)
    VALUES (p_brand, 'claim', 1, v_coupon.claimed_at, true, array_remove(ARRAY[v_store], NULL), p_offer, p_member,
            v_referrer);
    RETURN jsonb_build_object('status', 'claimed', 'coupon', to_jsonb(v_coupon));
END;
$$;
