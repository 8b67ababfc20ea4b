"""Medications given, the drug catalogue, guidance and radiation, steroid limits (issue 16).

Revision ID: a16c0e55f001
Revises: a15c0e55f001
Create Date: 2026-12-06 02:00:00

"""

from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = "a16c0e55f001"
down_revision = "a15c0e55f001"
branch_labels = None
depends_on = None

# name, unit, the dose equal to 4 mg methylprednisolone (corticosteroids), usual largest dose
DRUGS = [
    ("triamcinolone", "mg", "4", "80"),
    ("methylprednisolone", "mg", "4", "80"),
    ("dexamethasone", "mg", "0.75", "15"),
    ("betamethasone", "mg", "0.6", "12"),
    ("lidocaine", "mg", None, "300"),
    ("bupivacaine", "mg", None, "150"),
    ("ropivacaine", "mg", None, "200"),
    ("contrast", "ml", None, "20"),
]
# Published safe-dosing recommendations for at-risk patients: rolling months → MPE mg.
STEROID_LIMITS = [(12, "200"), (36, "400")]
# The usual corticosteroid dose of a procedure, methylprednisolone-equivalent mg.
USUAL_STEROID = {"ESI-IL": "80", "ESI-TF": "80", "ESI-CA": "80", "FJI": "40"}


def upgrade():
    op.create_table('drug',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=60), nullable=False),
    sa.Column('unit', sa.String(length=2), nullable=False),
    sa.Column('equivalent_mg', sa.Numeric(precision=6, scale=3), nullable=True),
    sa.Column('usual_max', sa.Numeric(precision=8, scale=2), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.CheckConstraint("equivalent_mg IS NULL OR equivalent_mg > 0", name=op.f('ck_drug_equivalent_positive')),
    sa.CheckConstraint("equivalent_mg IS NULL OR unit = 'mg'", name=op.f('ck_drug_steroid_in_mg')),
    sa.CheckConstraint("unit IN ('mg', 'ml')", name=op.f('ck_drug_unit_known')),
    sa.CheckConstraint("usual_max > 0", name=op.f('ck_drug_usual_max_positive')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_drug')),
    sa.UniqueConstraint('name', name=op.f('uq_drug_name'))
    )
    op.create_table('steroid_limit',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('window_months', sa.Integer(), nullable=False),
    sa.Column('max_mpe_mg', sa.Numeric(precision=8, scale=1), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.CheckConstraint("max_mpe_mg > 0", name=op.f('ck_steroid_limit_max_mpe_mg_positive')),
    sa.CheckConstraint("window_months >= 1", name=op.f('ck_steroid_limit_window_months_positive')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_steroid_limit')),
    sa.UniqueConstraint('window_months', name=op.f('uq_steroid_limit_window_months'))
    )
    op.create_table('medication_given',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('intervention_id', sa.Integer(), nullable=False),
    sa.Column('drug_id', sa.Integer(), nullable=False),
    sa.Column('dose_mg', sa.Numeric(precision=8, scale=2), nullable=True),
    sa.Column('volume_ml', sa.Numeric(precision=8, scale=2), nullable=True),
    sa.Column('route_site', sa.String(length=120), nullable=True),
    sa.CheckConstraint('(dose_mg IS NULL) <> (volume_ml IS NULL)', name=op.f('ck_medication_given_dose_or_volume')),
    sa.CheckConstraint('dose_mg >= 0', name=op.f('ck_medication_given_dose_not_negative')),
    sa.CheckConstraint('volume_ml >= 0', name=op.f('ck_medication_given_volume_not_negative')),
    sa.ForeignKeyConstraint(['drug_id'], ['drug.id'], name=op.f('fk_medication_given_drug_id_drug')),
    sa.ForeignKeyConstraint(['intervention_id'], ['intervention.id'], name=op.f('fk_medication_given_intervention_id_intervention')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_medication_given'))
    )
    with op.batch_alter_table('medication_given', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_medication_given_drug_id'), ['drug_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_medication_given_intervention_id'), ['intervention_id'], unique=False)

    with op.batch_alter_table('intervention', schema=None) as batch_op:
        batch_op.add_column(sa.Column('guidance', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('fluoro_seconds', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('air_kerma_mgy', sa.Numeric(precision=7, scale=1), nullable=True))
        batch_op.add_column(sa.Column('sedation', sa.String(length=20), nullable=True))
        batch_op.create_check_constraint(
            'guidance_known',
            "guidance IS NULL OR guidance IN ('fluoroscopy', 'ct', 'ultrasound', 'none')",
        )
        batch_op.create_check_constraint(
            'sedation_known',
            "sedation IS NULL OR sedation IN ('none', 'local_only', 'minimal', 'moderate')",
        )
        batch_op.create_check_constraint('fluoro_seconds_range', 'fluoro_seconds BETWEEN 0 AND 3600')
        batch_op.create_check_constraint('air_kerma_mgy_range', 'air_kerma_mgy BETWEEN 0 AND 5000')

    with op.batch_alter_table('procedure_type', schema=None) as batch_op:
        batch_op.add_column(sa.Column('usual_steroid_mpe_mg', sa.Numeric(precision=8, scale=1), nullable=True))

    drugs = sa.table(
        "drug",
        sa.column("name", sa.String), sa.column("unit", sa.String),
        sa.column("equivalent_mg", sa.Numeric), sa.column("usual_max", sa.Numeric),
        sa.column("active", sa.Boolean),
    )
    op.bulk_insert(drugs, [
        {"name": name, "unit": unit, "equivalent_mg": equivalent, "usual_max": usual_max,
         "active": True}
        for name, unit, equivalent, usual_max in DRUGS
    ])
    limits = sa.table(
        "steroid_limit",
        sa.column("window_months", sa.Integer), sa.column("max_mpe_mg", sa.Numeric),
        sa.column("active", sa.Boolean),
    )
    op.bulk_insert(limits, [
        {"window_months": months, "max_mpe_mg": most, "active": True}
        for months, most in STEROID_LIMITS
    ])
    procedures = sa.table(
        "procedure_type", sa.column("code", sa.String), sa.column("usual_steroid_mpe_mg", sa.Numeric)
    )
    for code, dose in USUAL_STEROID.items():
        op.execute(
            procedures.update()
            .where(procedures.c.code == code)
            .values(usual_steroid_mpe_mg=sa.literal(dose, sa.Numeric(8, 1)))
        )


def downgrade():
    with op.batch_alter_table('procedure_type', schema=None) as batch_op:
        batch_op.drop_column('usual_steroid_mpe_mg')
    with op.batch_alter_table('intervention', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_intervention_air_kerma_mgy_range'), type_='check')
        batch_op.drop_constraint(op.f('ck_intervention_fluoro_seconds_range'), type_='check')
        batch_op.drop_constraint(op.f('ck_intervention_sedation_known'), type_='check')
        batch_op.drop_constraint(op.f('ck_intervention_guidance_known'), type_='check')
        batch_op.drop_column('sedation')
        batch_op.drop_column('air_kerma_mgy')
        batch_op.drop_column('fluoro_seconds')
        batch_op.drop_column('guidance')
    with op.batch_alter_table('medication_given', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_medication_given_intervention_id'))
        batch_op.drop_index(batch_op.f('ix_medication_given_drug_id'))
    op.drop_table('medication_given')
    op.drop_table('steroid_limit')
    op.drop_table('drug')
