"""Column sets the sandbox serves, copied from the archives' own recorded answers.

The NASA Exoplanet Archive lists (``cumulative``, ``toi``) are the columns of the recorded
answers shipped with astroquery 0.4.11 (``*_expect_0.txt``), the TIC list is the ``fields`` of
its recorded ``Mast.Catalogs.Filtered.Tic.Rows`` answer (``tic.json``). Each entry is
``name:type`` with type ``i`` (integer), ``f`` (float) or ``s`` (string), so a test can check
that the sandbox and the recording agree name for name.
"""

CUMULATIVE_COLUMNS = """
kepid:i kepoi_name:s kepler_name:s ra:f ra_err:f ra_str:s dec:f dec_err:f dec_str:s
koi_gmag:f koi_gmag_err:f koi_rmag:f koi_rmag_err:f koi_imag:f koi_imag_err:f koi_zmag:f
koi_zmag_err:f koi_jmag:f koi_jmag_err:f koi_hmag:f koi_hmag_err:f koi_kmag:f koi_kmag_err:f
koi_kepmag:f koi_kepmag_err:f koi_delivname:s koi_vet_stat:s koi_quarters:s
koi_disposition:s koi_pdisposition:s koi_count:i koi_num_transits:i koi_max_sngle_ev:f
koi_max_mult_ev:f koi_bin_oedp_sig:f koi_limbdark_mod:s koi_ldm_coeff4:f koi_ldm_coeff3:f
koi_ldm_coeff2:f koi_ldm_coeff1:f koi_trans_mod:s koi_model_snr:f koi_model_dof:f
koi_model_chisq:f koi_time0bk:f koi_time0bk_err1:f koi_time0bk_err2:f koi_eccen:f
koi_eccen_err1:f koi_eccen_err2:f koi_longp:f koi_longp_err1:f koi_longp_err2:f koi_prad:f
koi_prad_err1:f koi_prad_err2:f koi_sma:f koi_sma_err1:f koi_sma_err2:f koi_impact:f
koi_impact_err1:f koi_impact_err2:f koi_duration:f koi_duration_err1:f koi_duration_err2:f
koi_ingress:f koi_ingress_err1:f koi_ingress_err2:f koi_depth:f koi_depth_err1:f
koi_depth_err2:f koi_period:f koi_period_err1:f koi_period_err2:f koi_ror:f koi_ror_err1:f
koi_ror_err2:f koi_dor:f koi_dor_err1:f koi_dor_err2:f koi_incl:f koi_incl_err1:f
koi_incl_err2:f koi_teq:f koi_teq_err1:f koi_teq_err2:f koi_steff:f koi_steff_err1:f
koi_steff_err2:f koi_slogg:f koi_slogg_err1:f koi_slogg_err2:f koi_smet:f koi_smet_err1:f
koi_smet_err2:f koi_srad:f koi_srad_err1:f koi_srad_err2:f koi_smass:f koi_smass_err1:f
koi_smass_err2:f koi_sage:f koi_sage_err1:f koi_sage_err2:f koi_sparprov:s
koi_fwm_stat_sig:f koi_fwm_sra:f koi_fwm_sra_err:f koi_fwm_sdec:f koi_fwm_sdec_err:f
koi_fwm_srao:f koi_fwm_srao_err:f koi_fwm_sdeco:f koi_fwm_sdeco_err:f koi_fwm_prao:f
koi_fwm_prao_err:f koi_fwm_pdeco:f koi_fwm_pdeco_err:f koi_dicco_mra:f koi_dicco_mra_err:f
koi_dicco_mdec:f koi_dicco_mdec_err:f koi_dicco_msky:f koi_dicco_msky_err:f koi_dikco_mra:f
koi_dikco_mra_err:f koi_dikco_mdec:f koi_dikco_mdec_err:f koi_dikco_msky:f
koi_dikco_msky_err:f koi_comment:s koi_vet_date:s koi_tce_plnt_num:i koi_tce_delivname:s
koi_datalink_dvs:s koi_disp_prov:s koi_parm_prov:s koi_time0:f koi_time0_err1:f
koi_time0_err2:f koi_datalink_dvr:s koi_fpflag_nt:i koi_fpflag_ss:i koi_fpflag_co:i
koi_fpflag_ec:i koi_insol:f koi_insol_err1:f koi_insol_err2:f koi_srho:f koi_srho_err1:f
koi_srho_err2:f koi_fittype:s koi_score:f
""".split()

TOI_COLUMNS = """
objectid:i tid:i tidstr:s toi:f toipfx:s toipfxstr:s ctoi_alias:s ctoi_aliasstr:s pl_pnum:i
tfopwg_disp:s st_tmag:f st_tmagerr1:f st_tmagerr2:f st_tmagsymerr:i st_tmaglim:i
st_tmagstr:s ra:f raerr1:f raerr2:f rasymerr:i rastr:s dec:f decerr1:f decerr2:f decsymerr:i
decstr:s st_pmra:f st_pmraerr1:f st_pmraerr2:f st_pmrasymerr:i st_pmralim:i st_pmrastr:s
st_pmdec:f st_pmdecerr1:f st_pmdecerr2:f st_pmdecsymerr:i st_pmdeclim:i st_pmdecstr:s
pl_tranmid:f pl_tranmiderr1:f pl_tranmiderr2:f pl_tranmidsymerr:i pl_tranmidlim:i
pl_tranmidstr:s pl_orbper:f pl_orbpererr1:f pl_orbpererr2:f pl_orbpersymerr:i pl_orbperlim:i
pl_orbperstr:s pl_trandurh:f pl_trandurherr1:f pl_trandurherr2:f pl_trandurhsymerr:i
pl_trandurhlim:i pl_trandurhstr:s pl_trandep:f pl_trandeperr1:f pl_trandeperr2:f
pl_trandepsymerr:i pl_trandeplim:i pl_trandepstr:s pl_rade:f pl_radeerr1:f pl_radeerr2:f
pl_radesymerr:i pl_radelim:i pl_radestr:s pl_insol:f pl_insolerr1:f pl_insolerr2:f
pl_insolsymerr:i pl_insollim:i pl_insolstr:s pl_eqt:f pl_eqterr1:f pl_eqterr2:f
pl_eqtsymerr:i pl_eqtlim:i pl_eqtstr:s st_dist:f st_disterr1:f st_disterr2:f st_distsymerr:i
st_distlim:i st_diststr:s st_teff:f st_tefferr1:f st_tefferr2:f st_teffsymerr:i st_tefflim:i
st_teffstr:s st_logg:f st_loggerr1:f st_loggerr2:f st_loggsymerr:i st_logglim:i st_loggstr:s
st_rad:f st_raderr1:f st_raderr2:f st_radsymerr:i st_radlim:i st_radstr:s sectors:s
toi_created:s rowupdate:s release_date:s spt_ind:i htm20:i
""".split()

TIC_COLUMNS = """
ID:s version:s HIP:i TYC:s UCAC:s TWOMASS:s SDSS:s ALLWISE:s GAIA:s APASS:s KIC:i objType:s
typeSrc:s ra:f dec:f POSflag:s pmRA:f e_pmRA:f pmDEC:f e_pmDEC:f PMflag:s plx:f e_plx:f
PARflag:s gallong:f gallat:f eclong:f eclat:f Bmag:f e_Bmag:f Vmag:f e_Vmag:f umag:f
e_umag:f gmag:f e_gmag:f rmag:f e_rmag:f imag:f e_imag:f zmag:f e_zmag:f Jmag:f e_Jmag:f
Hmag:f e_Hmag:f Kmag:f e_Kmag:f TWOMflag:s prox:f w1mag:f e_w1mag:f w2mag:f e_w2mag:f
w3mag:f e_w3mag:f w4mag:f e_w4mag:f GAIAmag:f e_GAIAmag:f Tmag:f e_Tmag:f TESSflag:s
SPFlag:s Teff:f e_Teff:f logg:f e_logg:f MH:f e_MH:f rad:f e_rad:f mass:f e_mass:f rho:f
e_rho:f lumclass:s lum:f e_lum:f d:f e_d:f ebv:f e_ebv:f numcont:i contratio:f disposition:s
duplicate_id:s priority:f objID:s
""".split()
# The recording types `toi` as text ('256.01'); the archive's TAP serves it as a number, and
# so does the sandbox, so `order by toi` sorts 101.01 before 1000.01 as the archive does.

# k2pandc has no recorded answer in astroquery; these are the columns ratdcs reads plus the
# identifying and stellar columns the archive documents for the table.
K2PANDC_COLUMNS = """
pl_name:s hostname:s epic_hostname:s epic_candname:s tic_id:s disposition:s
disp_refname:s default_flag:i k2_campaigns:s k2_campaigns_num:i pl_orbper:f pl_rade:f
pl_trandep:f pl_trandur:f ra:f dec:f sy_kepmag:f sy_vmag:f st_teff:f st_logg:f st_rad:f
st_mass:f rowupdate:s
""".split()

# MAST CAOM observation columns as Mast.Caom.Filtered answers today. The recorded
# advSearch.json (older) holds a subset; the extra ones (intentType, provenance_name,
# proposal_type, sequence_number, dataRights, mtFlag, srcDen) were added by MAST since.
CAOM_FIELDS = [
    ("intentType", "string"), ("obs_collection", "string"), ("provenance_name", "string"),
    ("instrument_name", "string"), ("project", "string"), ("filters", "string"),
    ("wavelength_region", "string"), ("target_name", "string"),
    ("target_classification", "string"), ("obs_id", "string"), ("s_ra", "float"),
    ("s_dec", "float"), ("dataproduct_type", "string"), ("proposal_pi", "string"),
    ("calib_level", "int"), ("t_min", "float"), ("t_max", "float"), ("t_exptime", "float"),
    ("em_min", "float"), ("em_max", "float"), ("obs_title", "string"),
    ("t_obs_release", "float"), ("proposal_id", "string"), ("proposal_type", "string"),
    ("sequence_number", "int"), ("s_region", "string"), ("jpegURL", "string"),
    ("dataURL", "string"), ("dataRights", "string"), ("mtFlag", "boolean"),
    ("srcDen", "float"), ("obsid", "string"), ("objID", "string"),
]

# Mast.Caom.Products columns as MAST answers today; the recorded products.json holds all but
# proposal_id, parent_obsid, dataRights, calib_level and filters.
PRODUCT_FIELDS = [
    ("obsID", "string"), ("obs_collection", "string"), ("dataproduct_type", "string"),
    ("obs_id", "string"), ("description", "string"), ("type", "string"),
    ("dataURI", "string"), ("productType", "string"), ("productGroupDescription", "string"),
    ("productSubGroupDescription", "string"), ("productDocumentationURL", "string"),
    ("project", "string"), ("prvversion", "string"), ("proposal_id", "string"),
    ("productFilename", "string"), ("size", "int"), ("parent_obsid", "string"),
    ("dataRights", "string"), ("calib_level", "int"), ("filters", "string"),
]

# IRSA IBE ztf/products/sci columns (docs/archive-facts.md section 4, plus nid and programid).
ZTF_COLUMNS = """
field:i ccdid:i qid:i rcid:i fid:i filtercode:s pid:i nid:i expid:i imgtypecode:s
obsdate:s obsjd:f exptime:f filefracday:i seeing:f airmass:f maglimit:f infobits:i
programid:i ra:f dec:f ipac_pub_date:s
""".split()


def split_columns(spec: list[str]) -> list[tuple[str, str]]:
    """Turn ``["kepid:i", ...]`` into ``[("kepid", "i"), ...]``."""
    return [tuple(item.split(":")) for item in spec]
