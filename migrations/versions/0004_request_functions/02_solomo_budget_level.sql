-- solomo_budget_level: a caller's request budget level now (solomo_charge_budget charges it), drained since its last
-- charge, without locking the row; 0 for a caller never charged. A single expression, inlined where it is called.
CREATE OR REPLACE FUNCTION solomo_budget_level(p_brand uuid, p_subject text, p_rate double precision)
RETURNS double precision
LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT greatest(b.level - greatest(extract(epoch FROM clock_timestamp() - b.at), 0) * p_rate, 0)
                     FROM request_budgets b WHERE b.brand_id = p_brand AND b.subject = p_subject), 0)
$$;
