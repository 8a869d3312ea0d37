use crate::envelope::Envelope;
use crate::facts::Facts;

pub(crate) fn parse_klog(_env: &Envelope<'_>) -> Option<Facts> {
    None
}

pub(crate) fn parse_logrus(_env: &Envelope<'_>) -> Option<Facts> {
    None
}

pub(crate) fn parse_text(_env: &Envelope<'_>) -> Option<Facts> {
    None
}
