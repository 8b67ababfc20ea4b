"""Spinal regions and payer rules read as coverage documents write them (issue 20).

The repeat-eligibility rules count documented relief and rolling windows in calendar months
(``min_relief_days``/``window_days`` become ``min_relief_months``/``window_months``), may count
per spinal region (``per_region``) and judge a trial's scores only (``trial_days``); the seeded
rules move to those definitions. ``spinal_level_region`` maps each level (and the caudal
epidural) to its region. Nothing is backfilled: a procedure's region is derived from its level.

Revision ID: a20c0e55f001
Revises: a16c0e55f001
Create Date: 2026-12-06 02:00:00

"""

from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = "a20c0e55f001"
down_revision = "a16c0e55f001"
branch_labels = None
depends_on = None

CERVICAL_THORACIC = [f"C{n}" for n in range(1, 8)] + [f"T{n}" for n in range(1, 13)]
LUMBAR_SACRAL = [f"L{n}" for n in range(1, 6)] + [f"S{n}" for n in range(1, 6)] + [
    "SACROCOCCYGEAL",
    "COCCYX",
    # A level that spans both regions counts as lumbar/sacral.
    "T12-L1",
]
# rule code → (min relief months, window months, per region, trial days, description)
PAYER_RULES = {
    "epidural-repeat": (3, 12, True, None,
        "Repeat epidural in the region: prior ≥ 50% relief documented ≥ 3 months; "
        "at most 4 sessions per region per rolling 12 months"),
    "rfa-repeat": (6, 12, True, None,
        "Repeat RFA in the region: prior ≥ 50% relief documented ≥ 6 months; "
        "at most 2 sessions per region per rolling 12 months"),
    "mbb-to-rfa": (None, None, True, None,
        "First RFA in the region: the two most recent medial branch blocks of the region "
        "each gave ≥ 80% relief"),
    "scs-trial-to-implant": (None, None, False, 10,
        "SCS implant: ≥ 50% relief during the stimulator trial (days 1–10)"),
}
# rule code → (min relief days, window days, description) as the first migration seeded them.
DAY_RULES = {
    "epidural-repeat": (90, 365,
        "Repeat epidural: prior ≥ 50% relief lasting ≥ 3 months; at most 4 sessions per rolling 12 months"),
    "rfa-repeat": (180, 365,
        "Repeat RFA: prior ≥ 50% relief lasting ≥ 6 months; at most 2 sessions per rolling 12 months"),
    "mbb-to-rfa": (None, None, "First RFA: two medial branch blocks, each with ≥ 80% relief"),
    "scs-trial-to-implant": (None, None, "SCS implant: ≥ 50% relief during the stimulator trial"),
}

rule_table = sa.table(
    "repeat_eligibility_rule",
    sa.column("code", sa.String), sa.column("description", sa.String),
    sa.column("min_relief_days", sa.Integer), sa.column("window_days", sa.Integer),
    sa.column("min_relief_months", sa.Integer), sa.column("window_months", sa.Integer),
    sa.column("per_region", sa.Boolean), sa.column("trial_days", sa.Integer),
)


def upgrade():
    op.create_table('spinal_level_region',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('level', sa.String(length=40), nullable=True),
    sa.Column('procedure_code', sa.String(length=20), nullable=True),
    sa.Column('region', sa.String(length=20), nullable=False),
    sa.CheckConstraint('(level IS NULL) <> (procedure_code IS NULL)', name=op.f('ck_spinal_level_region_level_or_procedure')),
    sa.CheckConstraint("region IN ('cervical_thoracic', 'lumbar_sacral')", name=op.f('ck_spinal_level_region_region_known')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_spinal_level_region')),
    sa.UniqueConstraint('level', name=op.f('uq_spinal_level_region_level')),
    sa.UniqueConstraint('procedure_code', name=op.f('uq_spinal_level_region_procedure_code'))
    )
    regions = sa.table(
        "spinal_level_region",
        sa.column("level", sa.String), sa.column("procedure_code", sa.String),
        sa.column("region", sa.String),
    )
    op.bulk_insert(
        regions,
        [{"level": level, "procedure_code": None, "region": "cervical_thoracic"} for level in CERVICAL_THORACIC]
        + [{"level": level, "procedure_code": None, "region": "lumbar_sacral"} for level in LUMBAR_SACRAL]
        # A caudal epidural enters at the sacral hiatus, whatever level it reaches.
        + [{"level": None, "procedure_code": "ESI-CA", "region": "lumbar_sacral"}],
    )

    with op.batch_alter_table('repeat_eligibility_rule', schema=None) as batch_op:
        batch_op.add_column(sa.Column('min_relief_months', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('window_months', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('per_region', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('trial_days', sa.Integer(), nullable=True))
    # Admin-edited rules keep their meaning as near as months allow (30 days → 1 month).
    op.execute(
        rule_table.update().values(
            min_relief_months=sa.case(
                (rule_table.c.min_relief_days.is_(None), None),
                else_=sa.func.max(1, (rule_table.c.min_relief_days + 15) / 30)
                if op.get_bind().dialect.name == "sqlite"
                else sa.func.greatest(1, (rule_table.c.min_relief_days + 15) / 30),
            ),
            window_months=sa.case(
                (rule_table.c.window_days.is_(None), None),
                else_=sa.func.max(1, (rule_table.c.window_days + 15) / 30)
                if op.get_bind().dialect.name == "sqlite"
                else sa.func.greatest(1, (rule_table.c.window_days + 15) / 30),
            ),
        )
    )
    for code, (months, window, per_region, trial_days, description) in PAYER_RULES.items():
        op.execute(
            rule_table.update()
            .where(rule_table.c.code == code)
            .values(min_relief_months=months, window_months=window, per_region=per_region,
                    trial_days=trial_days, description=description)
        )
    with op.batch_alter_table('repeat_eligibility_rule', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_repeat_eligibility_rule_session_limit_complete'), type_='check')
        batch_op.drop_column('min_relief_days')
        batch_op.drop_column('window_days')
        batch_op.create_check_constraint(op.f('ck_repeat_eligibility_rule_session_limit_complete'), '(max_sessions IS NULL) = (window_months IS NULL)')
        batch_op.create_check_constraint(op.f('ck_repeat_eligibility_rule_min_relief_months_positive'), 'min_relief_months >= 1')
        batch_op.create_check_constraint(op.f('ck_repeat_eligibility_rule_window_months_positive'), 'window_months >= 1')
        batch_op.create_check_constraint(op.f('ck_repeat_eligibility_rule_trial_days_positive'), 'trial_days >= 1')


def downgrade():
    with op.batch_alter_table('repeat_eligibility_rule', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_repeat_eligibility_rule_trial_days_positive'), type_='check')
        batch_op.drop_constraint(op.f('ck_repeat_eligibility_rule_window_months_positive'), type_='check')
        batch_op.drop_constraint(op.f('ck_repeat_eligibility_rule_min_relief_months_positive'), type_='check')
        batch_op.drop_constraint(op.f('ck_repeat_eligibility_rule_session_limit_complete'), type_='check')
        batch_op.add_column(sa.Column('min_relief_days', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('window_days', sa.Integer(), nullable=True))
    op.execute(
        rule_table.update().values(
            min_relief_days=rule_table.c.min_relief_months * 30,
            window_days=rule_table.c.window_months * 30,
        )
    )
    for code, (days, window, description) in DAY_RULES.items():
        op.execute(
            rule_table.update()
            .where(rule_table.c.code == code)
            .values(min_relief_days=days, window_days=window, description=description)
        )
    with op.batch_alter_table('repeat_eligibility_rule', schema=None) as batch_op:
        batch_op.drop_column('trial_days')
        batch_op.drop_column('per_region')
        batch_op.drop_column('window_months')
        batch_op.drop_column('min_relief_months')
        batch_op.create_check_constraint(op.f('ck_repeat_eligibility_rule_session_limit_complete'), '(max_sessions IS NULL) = (window_days IS NULL)')
    op.drop_table('spinal_level_region')
