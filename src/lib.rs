//! Passerelle: the referral exchange between Niger (ANLTP/TIM) and Nigeria
//! (NAPTIP) for victims of trafficking in persons and stranded migrants.

pub mod domain;
