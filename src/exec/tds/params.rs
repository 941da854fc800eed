//! Statement parameters as typed TDS values for `sp_executesql`.

use std::borrow::Cow;

use tiberius::ColumnData;

use crate::step::Param;
use crate::value::Scalar;

/// A parameter as tiberius binds it.
pub(super) struct Bound(ColumnData<'static>);

impl tiberius::ToSql for Bound {
    fn to_sql(&self) -> ColumnData<'_> {
        self.0.clone()
    }
}

pub(super) fn bound(params: &[Param]) -> Vec<Bound> {
    params
        .iter()
        .map(|p| {
            Bound(match &p.value {
                // Untyped NULL: nvarchar converts implicitly to every type but the binary ones.
                Scalar::Null => ColumnData::String(None),
                Scalar::Bool(b) => ColumnData::Bit(Some(*b)),
                Scalar::Int(i) => ColumnData::I64(Some(*i)),
                Scalar::Float(f) => ColumnData::F64(Some(*f)),
                Scalar::Text(s) => ColumnData::String(Some(Cow::Owned(s.clone()))),
            })
        })
        .collect()
}

pub(super) fn references(bound: &[Bound]) -> Vec<&dyn tiberius::ToSql> {
    bound.iter().map(|b| b as &dyn tiberius::ToSql).collect()
}
