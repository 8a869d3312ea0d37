use crate::envelope::Envelope;
use crate::facts::Facts;

pub(crate) fn parse(_env: &Envelope<'_>) -> Option<Facts> {
    None
}
