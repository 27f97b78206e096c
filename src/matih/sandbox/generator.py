"""The NovaMart world: a store whose demand process is known, generated with numpy in one pass.

Every product-day is a cell of a (products x days) matrix. Expected demand is a product of factors
(base level, weekly and yearly seasonality, holidays, trend, launch ramp, promotions through price
elasticity); stock-outs suppress it; realised units are Poisson around it. The expected units are kept
aside as ``truth`` so the best error any forecaster could reach (the noise floor) is known.

Orders and order lines are then cut from the realised units (:mod:`matih.sandbox.orders`), web sessions
are drawn from demand two days ahead (traffic leads sales), and inventory, shipments and warehouses
follow from the stock-outs. Every draw comes from a random stream in a fixed order, which is what makes a
config build the same world every time: reordering draws, even between methods, changes the world. Web
traffic and shocks have streams of their own (seeded from the config's seed), so a shock changes no sale
before its day and no other category at all (traffic, which leads sales, moves two days before it).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from matih import calendar
from matih.exceptions import SandboxError
from matih.sandbox.categories import CATEGORIES, Category
from matih.sandbox.draws import approx_binomial, day_major
from matih.sandbox.orders import order_tables
from matih.sandbox.shocks import Shock
from matih.state import utc_now

#: the seed's catalogue is 45,291 products; larger worlds are for scaling runs (about 0.1 GB of memory
#: per 1,000 products while generating)
MIN_PRODUCTS, MAX_PRODUCTS = 100, 1_000_000
#: traffic leads sales by this many days
TRAFFIC_LEAD_DAYS = 2
#: share of products per history bucket (12+ months, 6-12, 3-6, 1-3, under 1 month), from the seed
HISTORY_SHARES = (0.627, 0.197, 0.093, 0.063, 0.020)
HISTORY_BOUNDS = ((365, None), (180, 365), (90, 180), (30, 90), (3, 30))
WAREHOUSES = (
    ("WH-1", "Reno Fulfilment", "Reno, NV", 1_200_000),
    ("WH-2", "Columbus Hub", "Columbus, OH", 950_000),
    ("WH-3", "Dallas Crossdock", "Dallas, TX", 800_000),
    ("WH-4", "Allentown DC", "Allentown, PA", 1_050_000),
    ("WH-5", "Atlanta South", "Atlanta, GA", 700_000),
)
_WAREHOUSE_IDS = np.array([w[0] for w in WAREHOUSES])


@dataclass(frozen=True)
class WorldConfig:
    """What world to build. The same config always builds the same world."""

    products: int = 2_000
    seed: int = 7
    #: last day with sales; defaults to yesterday (UTC) so forecasts start today
    end_date: dt.date | None = None
    #: days of history, ending at ``end_date``
    days: int = 730
    #: changes to demand from given days on (:mod:`matih.sandbox.shocks`)
    shocks: tuple[Shock, ...] = ()

    def __post_init__(self) -> None:
        if not MIN_PRODUCTS <= self.products <= MAX_PRODUCTS:
            raise SandboxError(
                f"products must be between {MIN_PRODUCTS} and {MAX_PRODUCTS:,}, got {self.products:,}; "
                "pass --products N within that range"
            )
        if self.days < 120:
            raise SandboxError(f"days must be at least 120 to hold launches and a holdout, got {self.days}")

    @property
    def last_day(self) -> dt.date:
        return self.end_date or (utc_now().date() - dt.timedelta(days=1))

    @property
    def first_day(self) -> dt.date:
        return self.last_day - dt.timedelta(days=self.days - 1)


@dataclass
class World:
    """The generated store: source tables (as the real systems would hold them) and the truth."""

    config: WorldConfig
    tables: dict[str, pa.Table] = field(default_factory=dict)
    truth: pa.Table | None = None

    def row_counts(self) -> dict[str, int]:
        return {name: t.num_rows for name, t in self.tables.items()}


def product_ids(n: int) -> np.ndarray:
    return np.char.add("PRD-", (10_000 + np.arange(n)).astype(str))


def generate_world(config: WorldConfig) -> World:
    """Build the NovaMart world described by ``config``."""
    return _Builder(config).build()


class _Builder:
    def __init__(self, config: WorldConfig) -> None:
        self.cfg = config
        self.rng = np.random.default_rng(config.seed)
        self.P = config.products
        self.D = config.days
        first = np.datetime64(config.first_day, "D")
        self.days = first + np.arange(self.D)
        self.cats = CATEGORIES
        self.shock_rng = np.random.default_rng([config.seed, 1])

    # -- products ------------------------------------------------------------------------------------
    def _products(self) -> None:
        rng, P = self.rng, self.P
        weights = np.array([c.volume for c in self.cats]) * 0 + 1.0 + 0.3 * rng.random(len(self.cats))
        self.cat = rng.choice(len(self.cats), size=P, p=weights / weights.sum()).astype(np.int16)
        self.tail = rng.random(P) < np.array([c.tail_share for c in self.cats])[self.cat]
        vol = np.array([c.volume for c in self.cats], dtype=np.float64)[self.cat]
        head_level = np.exp(rng.normal(np.log(55.0), 0.8, P)) * vol
        tail_level = np.exp(rng.normal(np.log(0.9), 0.8, P)) * vol
        self.level = np.clip(np.where(self.tail, tail_level, head_level), 0.02, 450.0)
        price_med = np.array([c.price for c in self.cats])[self.cat]
        self.list_price = np.round(np.exp(rng.normal(np.log(price_med), 0.45)), 2).clip(1.99, 2999.0)
        self.elasticity = np.array([c.elasticity for c in self.cats])[self.cat] * rng.uniform(0.8, 1.2, P)
        # launches spread like the seed's history buckets
        bucket = rng.choice(len(HISTORY_SHARES), size=P, p=np.array(HISTORY_SHARES) / sum(HISTORY_SHARES))
        lo = np.array([b[0] for b in HISTORY_BOUNDS])[bucket]
        hi = np.array([b[1] or self.D + 400 for b in HISTORY_BOUNDS])[bucket]
        hi = np.minimum(hi, self.D + 400)
        selling_days = rng.integers(lo, hi)
        # buckets count days *with sales*: intermittent sellers need more calendar days to fill theirs
        sell_share = 1.0 - np.exp(-0.8 * self.level)
        age = np.ceil(selling_days / sell_share).astype(np.int64) + 6
        self.launch = self.D - np.minimum(age, self.D + 400)  # index of the launch day (may be < 0)
        self.trend = rng.normal(0.0, 0.22, P)  # log growth per year
        self.peak_shift = rng.normal(0.0, 6.0, P)
        subs, types, names, paths = [], [], [], []
        adj_pick = rng.integers(0, 1 << 30, P)
        sub_pick = rng.integers(0, 1 << 30, P)
        for i in range(P):
            c: Category = self.cats[self.cat[i]]
            sub_names = list(c.subcategories)
            sub = sub_names[sub_pick[i] % len(sub_names)]
            nouns = c.subcategories[sub]
            noun = nouns[(sub_pick[i] // 7) % len(nouns)]
            subs.append(sub)
            types.append(noun)
            names.append(f"{c.adjectives[adj_pick[i] % len(c.adjectives)]} {noun}")
            paths.append(f"{c.name} > {sub} > {noun}")
        self.sub, self.ptype, self.names, self.paths = subs, types, names, paths
        self.ids = product_ids(P)
        self.id_array = pa.array(self.ids.tolist(), pa.string())

    # -- demand --------------------------------------------------------------------------------------
    def _demand(self) -> None:
        mu = self._baseline()
        self._promotions(mu)
        self._stockouts()
        self._shocks()

    def _holidays(self) -> np.ndarray:
        """(categories x days) holiday factors: Black Friday, the Christmas ramp, Valentine's week."""
        days = self.days
        bf = calendar.black_friday_weekend(days)
        xmas = calendar.christmas_ramp(days)
        xday = calendar.is_christmas_day(days)
        val = calendar.valentines_week(days)
        val_ramp = np.where(val, (calendar.day_of_month(days) - 6) / 8.0, 0.0)
        hol = np.ones((len(self.cats), self.D), dtype=np.float32)
        for k, c in enumerate(self.cats):
            h = np.ones(self.D)
            h = h * (1 + (c.christmas - 1) * xmas)
            h = np.where(bf, c.black_friday, h)
            h = h * (1 + (c.valentines - 1) * val_ramp)
            h = np.where(xday, 0.3, h)
            hol[k] = h
        return hol

    def _baseline(self) -> np.ndarray:
        """(products x days) expected demand before promotions and stock-outs."""
        D, days = self.D, self.days
        dow = calendar.day_of_week(days)
        doy = calendar.day_of_year(days)
        weekly = np.array([np.array(c.weekly) / np.mean(c.weekly) for c in self.cats])  # C x 7
        hol = self._holidays()
        # the (products x days) factors are built in float32 and multiplied in place: at seed scale
        # each matrix is 130 MB, and memory traffic is what this step costs
        f32 = np.float32
        amp = np.array([c.seasonality for c in self.cats], f32)[self.cat][:, None]
        peak = (np.array([c.peak_doy for c in self.cats])[self.cat] + self.peak_shift).astype(f32)[:, None]
        mu = doy.astype(f32)[None, :] - peak
        mu *= f32(2 * np.pi / 365.25)
        np.cos(mu, out=mu)
        mu *= amp
        np.exp(mu, out=mu)
        mu /= np.exp(amp * amp / 4)  # keeps the yearly mean near 1 (first-order Bessel term)
        mu *= self.level.astype(f32)[:, None]
        mu *= weekly.astype(f32)[self.cat][:, dow]
        mu *= hol[self.cat]
        t_years = ((np.arange(D) - (D - 1)) / 365.25).astype(f32)
        factor = self.trend.astype(f32)[:, None] * t_years[None, :]
        np.exp(factor, out=factor)
        mu *= factor
        # launch ramp: 1 - exp(-(age + 1) / 12), nothing before the launch
        age = np.arange(D, dtype=np.int32)[None, :] - self.launch.astype(np.int32)[:, None]
        np.add(age, 1, out=factor, casting="unsafe")
        factor *= f32(-1 / 12.0)
        np.exp(factor, out=factor)
        np.subtract(f32(1), factor, out=factor)
        factor[age < 0] = 0
        mu *= factor
        return mu

    def _promotions(self, mu: np.ndarray) -> None:
        """Promotions: short episodes at a discount; demand answers through the price elasticity."""
        rng, P, D = self.rng, self.P, self.D
        n_promos = rng.poisson(D / 365.0 * 2.0, P)
        total = int(n_promos.sum())
        p_idx = np.repeat(np.arange(P), n_promos)
        start = rng.integers(0, D, total)
        length = rng.integers(3, 11, total)
        depth = rng.choice(np.array([0.1, 0.15, 0.2, 0.25, 0.3]), total)
        self.discount = np.zeros((P, D), dtype=np.float32)
        cells_p = np.repeat(p_idx, length)
        offsets = np.arange(length.sum()) - np.repeat(np.cumsum(length) - length, length)
        cells_d = np.repeat(start, length) + offsets
        keep = cells_d < D
        self.discount[cells_p[keep], cells_d[keep]] = np.repeat(depth, length)[keep]
        uplift = np.power(np.float32(1) - self.discount, -self.elasticity.astype(np.float32)[:, None])
        uplift *= mu
        self.demand = uplift
        self.baseline = mu  # demand had there been no promotion

    def _stockouts(self) -> None:
        """Stock-outs: rare episodes during which only a trickle sells; then the realised units."""
        rng, P, D = self.rng, self.P, self.D
        n_out = rng.poisson(D / 365.0 * 0.8, P)
        o_idx = np.repeat(np.arange(P), n_out)
        o_start = rng.integers(0, D, int(n_out.sum()))
        o_len = rng.integers(2, 8, int(n_out.sum()))
        self.in_stock = np.ones((P, D), dtype=bool)
        op = np.repeat(o_idx, o_len)
        od = np.repeat(o_start, o_len) + (np.arange(o_len.sum()) - np.repeat(np.cumsum(o_len) - o_len, o_len))
        ok = od < D
        self.in_stock[op[ok], od[ok]] = False
        self.stockouts = (o_idx, o_start, o_len)
        self.expected = np.where(self.in_stock, self.demand, self.demand * np.float32(0.05))
        self.units = rng.poisson(self.expected).astype(np.int32)

    def _shocks(self) -> None:
        """The configured shocks, drawn from their own stream so the world before them is unchanged: more
        demand adds Poisson units, less thins the drawn ones binomially (both exact for Poisson sales)."""
        if not self.cfg.shocks:
            return
        rng = self.shock_rng
        self.unshocked_demand = self.demand.copy()
        names = [c.name for c in self.cats]
        for shock in self.cfg.shocks:
            rows = np.flatnonzero(self.cat == names.index(shock.category))
            lo = max(0, int((np.datetime64(shock.start, "D") - self.days[0]).astype(np.int64)))
            hi = self.D if shock.days is None else min(self.D, lo + shock.days)
            if lo >= hi or rows.size == 0:
                continue
            block = np.ix_(rows, np.arange(lo, hi))
            units = self.units[block]
            if shock.kind == "outage":  # cells already out of stock sell their trickle already
                selling = self.in_stock[block]
                self.units[block] = np.where(selling, rng.binomial(units, shock.factor), units)
                self.expected[block] = self.demand[block] * np.float32(shock.factor)
                self.in_stock[block] = False
                continue
            f = np.float32(shock.factor)
            if shock.factor >= 1.0:
                self.units[block] = units + rng.poisson(self.expected[block] * (f - 1)).astype(np.int32)
            else:
                self.units[block] = rng.binomial(units, shock.factor).astype(np.int32)
            for matrix in (self.expected, self.demand, self.baseline):
                matrix[block] = matrix[block] * f

    # -- tables --------------------------------------------------------------------------------------
    def _catalog_tables(self) -> dict[str, pa.Table]:
        # every table is stamped no later than the end of the world's last day
        end_ts = (self.days[-1] + 1).astype("datetime64[s]")
        tables = self._product_tables(end_ts)
        tables.update(self._stock_tables(end_ts))
        tables["supplier_shipments"] = self._shipments(end_ts)
        return tables

    def _product_tables(self, end_ts: np.datetime64) -> dict[str, pa.Table]:
        """``products`` (the shop's catalogue) and ``product_categories`` (the analysts' mapping)."""
        rng, P = self.rng, self.P
        launch_day = self.days[0] + self.launch.astype("timedelta64[D]")
        created = launch_day.astype("datetime64[s]") - rng.integers(86400, 30 * 86400, P).astype(
            "timedelta64[s]"
        )
        prod_updated = np.minimum(created + rng.integers(0, 400 * 86400, P).astype("timedelta64[s]"), end_ts)
        products = pa.table(
            {
                "product_id": self.ids,
                "title": self.names,
                "vendor": np.array(["NovaMart Own Brand", "Acme Supply", "Northwind", "Globex"])[
                    rng.integers(0, 4, P)
                ],
                "product_type": self.ptype,
                "price": self.list_price,
                "status": np.where(self.launch < self.D, "active", "draft"),
                "created_at": pa.array(created, pa.timestamp("s")),
                "updated_at": pa.array(prod_updated, pa.timestamp("s")),
            }
        )
        owners = np.array(["sofia@novamart.com", "sofia@novamart.com", "bi-team@novamart.com"])
        product_categories = pa.table(
            {
                "product_id": self.ids,
                "category": np.array([c.name for c in self.cats])[self.cat],
                "subcategory": self.sub,
                "product_type": self.ptype,
                "category_path": self.paths,
                "seasonal_flag": np.array([c.seasonal_flag for c in self.cats])[self.cat],
                "last_modified_by": owners[rng.integers(0, 3, P)],
                "updated_at": pa.array(
                    np.full(P, end_ts - np.timedelta64(20 * 86400, "s")), pa.timestamp("s")
                ),
            }
        )
        return {"products": products, "product_categories": product_categories}

    def _stock_tables(self, end_ts: np.datetime64) -> dict[str, pa.Table]:
        """The inventory snapshot at the end of the world, per product in its one home warehouse."""
        rng, P = self.rng, self.P
        # kept for the shipments, which restock at the recent rate into the same warehouse
        self.recent = self.demand[:, -28:].mean(axis=1)
        cover = rng.uniform(2.0, 45.0, P)
        # out-of-stock products hold nothing
        qoh = np.where(self.in_stock[:, -1], np.round(self.recent * cover + rng.integers(0, 5, P)), 0).astype(
            np.int64
        )
        reorder = np.ceil(self.recent * 7 * 1.3 + 2).astype(np.int64)
        self.home = rng.integers(0, len(WAREHOUSES), P)
        home_ids = _WAREHOUSE_IDS[self.home]
        inv_updated = end_ts - rng.integers(60, 6 * 3600, P).astype("timedelta64[s]")
        inventory = pa.table(
            {
                "product_id": self.ids,
                "warehouse_id": home_ids,
                "quantity_on_hand": qoh,
                "reorder_point": reorder,
                "updated_at": pa.array(inv_updated, pa.timestamp("s")),
            }
        )
        inventory_levels = pa.table(
            {
                "inventory_item_id": 40_000_000 + np.arange(P, dtype=np.int64),
                "product_id": self.ids,
                "location_id": home_ids,
                "available": qoh,
                "updated_at": pa.array(inv_updated, pa.timestamp("s")),
            }
        )
        warehouses = pa.table(
            {
                "warehouse_id": [w[0] for w in WAREHOUSES],
                "name": [w[1] for w in WAREHOUSES],
                "city": [w[2] for w in WAREHOUSES],
                "capacity_units": [w[3] for w in WAREHOUSES],
            }
        )
        return {"inventory": inventory, "inventory_levels": inventory_levels, "warehouses": warehouses}

    def _shipments(self, end_ts: np.datetime64) -> pa.Table:
        """Supplier shipments: a restock after every stock-out plus routine replenishment."""
        rng, P = self.rng, self.P
        o_idx, o_start, o_len = self.stockouts
        routine = rng.poisson(self.D / 365.0 * 1.6, P)
        r_idx = np.repeat(np.arange(P), routine)
        r_day = rng.integers(0, self.D, len(r_idx))
        s_p = np.concatenate([o_idx, r_idx])
        s_recv = np.concatenate([np.minimum(o_start + o_len, self.D - 1), r_day])
        lead = rng.integers(3, 15, len(s_p))
        ordered = self.days[s_recv] - lead.astype("timedelta64[D]")
        received = self.days[s_recv]
        # the last few days' shipments have not arrived yet
        in_transit = received > self.days[-1] - 3
        qty = np.ceil(self.recent[s_p] * rng.uniform(14, 45, len(s_p)) + 10).astype(np.int64)
        order = np.argsort(ordered, kind="stable")
        recv_ts = received.astype("datetime64[s]") + np.timedelta64(10 * 3600, "s")
        return pa.table(
            {
                "shipment_id": np.arange(1, len(s_p) + 1, dtype=np.int64),
                "product_id": self.ids[s_p][order],
                "warehouse_id": _WAREHOUSE_IDS[self.home[s_p]][order],
                "supplier_id": (rng.integers(1, 400, len(s_p)) + 5000)[order],
                "quantity": qty[order],
                "ordered_at": pa.array(ordered[order].astype("datetime64[s]"), pa.timestamp("s")),
                "expected_at": pa.array(received[order].astype("datetime64[s]"), pa.timestamp("s")),
                "received_at": pa.array(
                    np.where(in_transit, np.datetime64("NaT"), recv_ts)[order], pa.timestamp("s")
                ),
                "status": np.where(in_transit, "in_transit", "received")[order],
                "updated_at": pa.array(np.minimum(recv_ts, end_ts)[order], pa.timestamp("s")),
            }
        )

    @staticmethod
    def _ahead(demand: np.ndarray) -> np.ndarray:
        """Each day's demand TRAFFIC_LEAD_DAYS later (the last days repeat the world's last)."""
        lead = TRAFFIC_LEAD_DAYS
        return np.concatenate([demand[:, lead:], demand[:, -1:].repeat(lead, axis=1)], axis=1)

    def _web_sessions(self) -> pa.Table:
        rng = np.random.default_rng([self.cfg.seed, 2])
        per_unit = rng.uniform(8.0, 20.0, self.P).astype(np.float32)[:, None]
        # drawn from the unshocked demand, then moved by the shocks with their own stream: traffic before
        # a shock (and of every other category) is the unshocked world's
        rate = self._ahead(self.unshocked_demand if self.cfg.shocks else self.demand) * per_unit
        sessions = rng.poisson(rate).astype(np.int32)
        if self.cfg.shocks:
            shocked = self._ahead(self.demand) * per_unit
            up, down = shocked > rate, shocked < rate
            sessions[up] += self.shock_rng.poisson(shocked[up] - rate[up]).astype(np.int32)
            sessions[down] = self.shock_rng.binomial(sessions[down], shocked[down] / rate[down])
        p, d = day_major(sessions)
        s = sessions[p, d]
        # a stream each: one draw per cell, so the cells before a shock draw what they drew without it
        views_rng, visitors_rng = (np.random.default_rng([self.cfg.seed, 2, k]) for k in (1, 2))
        return pa.table(
            {
                "date": pa.array(self.days[d]),
                "page_path": pa.DictionaryArray.from_arrays(
                    pa.array(p.astype(np.int32)), pa.array(np.char.add("/products/", np.char.lower(self.ids)))
                ),
                "product_id": pa.DictionaryArray.from_arrays(pa.array(p.astype(np.int32)), self.id_array),
                "sessions": pa.array(s.astype(np.int32)),
                "page_views": pa.array(s + approx_binomial(views_rng, s, 0.4, low=0, high=s)),
                "unique_visitors": pa.array(approx_binomial(visitors_rng, s, 0.85, low=1, high=s)),
            }
        )

    def _truth(self) -> pa.Table:
        p, d = np.nonzero(np.arange(self.D)[None, :] >= self.launch[:, None])
        return pa.table(
            {
                # an integer key: the truth is internal, and strings cost more to store than the floats
                "product_idx": pa.array(p.astype(np.int32)),
                "date": pa.array(self.days[d]),
                "expected_units": pa.array(self.expected[p, d]),
                "demand": pa.array(self.demand[p, d]),
                "baseline_demand": pa.array(self.baseline[p, d]),
                "in_stock": pa.array(self.in_stock[p, d]),
                "discount": pa.array(self.discount[p, d]),
            }
        )

    def build(self) -> World:
        self._products()
        self._demand()
        tables = self._catalog_tables()
        units, discount = self.units, self.discount
        tables.update(order_tables(self.rng, units, discount, self.list_price, self.days, self.id_array))
        tables["web_sessions"] = self._web_sessions()
        return World(config=self.cfg, tables=tables, truth=self._truth())
