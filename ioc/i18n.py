"""Interface texts in Vietnamese and English as plain data, `t()` to look one up, and numbers written per language.

Pages never hard-code visible text: they ask `t(key, lang)`. A missing key or language is never an exception on a
wall display; it falls back to the other language, then to the key itself in brackets so the gap is easy to spot.
"""

from __future__ import annotations

import logging
from typing import Final, Literal, get_args

log = logging.getLogger(__name__)

Lang = Literal["vi", "en"]
LANGS: Final[tuple[Lang, ...]] = get_args(Lang)
DEFAULT_LANG: Final[Lang] = "vi"

TEXTS: Final[dict[str, dict[Lang, str]]] = {
    # Page frame
    "wall.title": {"vi": "Trung tâm Điều hành Đô thị thông minh {city}", "en": "{city} Intelligent Operations Centre"},
    "wall.city_time": {"vi": "Giờ thành phố", "en": "City time"},
    "wall.language": {"vi": "Ngôn ngữ", "en": "Language"},
    "wall.no_time": {"vi": "--:--:--", "en": "--:--:--"},
    "wall.simulated": {"vi": "MÔ PHỎNG ×{speed}", "en": "SIMULATED ×{speed}"},
    "wall.simulated_hint": {"vi": "Giờ mô phỏng, không phải số liệu thật", "en": "Simulated time, not live data"},
    # KPI strip
    "kpi.sensors_online": {"vi": "Thiết bị hoạt động", "en": "Sensors online"},
    "kpi.city_speed": {"vi": "Tốc độ TB toàn TP", "en": "City average speed"},
    "kpi.congested": {"vi": "Đoạn đường ùn tắc", "en": "Congested segments"},
    "kpi.flood": {"vi": "Mức báo động lũ cao nhất", "en": "Highest flood level"},
    "kpi.alerts": {"vi": "Cảnh báo đang bật", "en": "Active alerts"},
    "kpi.deadletters": {"vi": "Bản tin bị loại", "en": "Rejected events"},
    "kpi.of_total": {"vi": "trên {total}", "en": "of {total}"},
    "kpi.kmh": {"vi": "km/h", "en": "km/h"},
    "kpi.no_value": {"vi": "—", "en": "—"},
    "kpi.at_station": {"vi": "tại {station}", "en": "at {station}"},
    "kpi.all_stations": {"vi": "tất cả các trạm", "en": "all stations"},
    "kpi.deadletters_hint": {"vi": "dữ liệu sai định dạng", "en": "malformed data"},
    "kpi.alerts_hint": {"vi": "lũ, giao thông, thiết bị", "en": "flood, traffic, devices"},
    # Flood alarm levels (Decision 05/2020/QĐ-TTg wording)
    "alarm.0": {"vi": "Dưới BĐ I", "en": "Below Alarm I"},
    "alarm.1": {"vi": "Báo động I", "en": "Alarm I"},
    "alarm.2": {"vi": "Báo động II", "en": "Alarm II"},
    "alarm.3": {"vi": "Báo động III", "en": "Alarm III"},
    "alarm.short.0": {"vi": "Bình thường", "en": "Normal"},
    "alarm.short.1": {"vi": "BĐ I", "en": "BĐ I"},
    "alarm.short.2": {"vi": "BĐ II", "en": "BĐ II"},
    "alarm.short.3": {"vi": "BĐ III", "en": "BĐ III"},
    # Speed bands (Seoul TOPIS)
    "band.congested": {"vi": "Ùn tắc", "en": "Congested"},
    "band.slow": {"vi": "Chậm", "en": "Slow"},
    "band.smooth": {"vi": "Thông thoáng", "en": "Smooth"},
    "band.unknown": {"vi": "Chưa có dữ liệu", "en": "No data"},
    # Device health
    "health.online": {"vi": "Hoạt động", "en": "Online"},
    "health.offline": {"vi": "Mất kết nối", "en": "Offline"},
    "health.fault": {"vi": "Lỗi", "en": "Fault"},
    "health.unknown": {"vi": "Không rõ", "en": "Unknown"},
    # Rain classes (24-hour thresholds)
    "rain.none": {"vi": "Không mưa", "en": "No rain"},
    "rain.light": {"vi": "Mưa nhỏ", "en": "Light rain"},
    "rain.moderate": {"vi": "Mưa vừa", "en": "Moderate rain"},
    "rain.heavy": {"vi": "Mưa to", "en": "Heavy rain"},
    "rain.very_heavy": {"vi": "Mưa rất to", "en": "Very heavy rain"},
    # Map layers and legend
    "layer.segments": {"vi": "Tốc độ giao thông", "en": "Traffic speed"},
    "layer.cameras": {"vi": "Camera giao thông", "en": "Traffic cameras"},
    "layer.speed_cameras": {"vi": "Camera tốc độ", "en": "Speed cameras"},
    "layer.stations": {"vi": "Trạm đo mực nước", "en": "Water level stations"},
    "layer.gauges": {"vi": "Trạm đo mưa", "en": "Rain gauges"},
    "layer.hotspots": {"vi": "Wifi công cộng", "en": "Public wifi"},
    "legend.offline": {"vi": "Mất kết nối / lỗi", "en": "Offline / fault"},
    # Speed chart
    "chart.title": {"vi": "Tốc độ giao thông (km/h), 60 phút gần nhất", "en": "Traffic speed (km/h), last 60 minutes"},
    "chart.city_avg": {"vi": "Trung bình TP", "en": "City average"},
    "chart.no_data": {"vi": "Đang chờ dữ liệu tốc độ…", "en": "Waiting for speed data…"},
    # Flood panel
    "flood.title": {"vi": "Mực nước các trạm", "en": "Water levels"},
    "flood.no_reading": {"vi": "Chưa có số liệu", "en": "No reading yet"},
    "flood.metres": {"vi": "{value} m", "en": "{value} m"},
    "alerts.title": {"vi": "Cảnh báo đang bật", "en": "Active alerts"},
    "alerts.none": {"vi": "Không có cảnh báo nào đang bật", "en": "No active alerts"},
    "alerts.more": {"vi": "+{count} cảnh báo khác", "en": "+{count} more"},
    "alerts.kind.flood.level.changed": {"vi": "Mực nước", "en": "Water level"},
    "alerts.kind.traffic.congestion.changed": {"vi": "Giao thông", "en": "Traffic"},
    "alerts.kind.flood.rain.changed": {"vi": "Lượng mưa", "en": "Rainfall"},
    "alerts.kind.device.health.changed": {"vi": "Thiết bị", "en": "Device"},
    "alerts.kind.other": {"vi": "Cảnh báo", "en": "Alert"},
    "alerts.value.congested": {"vi": "Ùn tắc", "en": "Congested"},
    "alerts.value.flowing": {"vi": "Thông xe", "en": "Flowing"},
    # Takeover and stale banners
    "takeover.flood": {
        "vi": "{level} tại {place}: mực nước {value} m lúc {time}",
        "en": "{level} at {place}: water level {value} m at {time}",
    },
    "takeover.generic": {"vi": "Cảnh báo khẩn tại {place} lúc {time}", "en": "Critical alert at {place} at {time}"},
    "takeover.more": {"vi": "và {count} cảnh báo khẩn khác", "en": "and {count} more critical alerts"},
    "takeover.heading": {"vi": "CẢNH BÁO KHẨN CẤP", "en": "CRITICAL ALERT"},
    "stale.redis": {
        "vi": "Mất kết nối Redis: số liệu trên màn hình có thể đã cũ",
        "en": "Cannot reach Redis: the figures on screen may be out of date",
    },
    "stale.no_data": {
        "vi": "Không có dữ liệu mới trong {seconds} giây",
        "en": "No new data for {seconds} seconds",
    },
    "stale.no_data_ever": {"vi": "Chưa nhận được dữ liệu nào", "en": "No data received yet"},
    "stale.server": {
        "vi": "Mất kết nối máy chủ: đang thử kết nối lại…",
        "en": "Lost contact with the server: reconnecting…",
    },
}


def normalize_lang(value: object, default: Lang = DEFAULT_LANG) -> Lang:
    """A supported language code from user input such as a `?lang=` query value, else the default."""
    if isinstance(value, str):
        code = value.strip().lower()[:2]
        for lang in LANGS:
            if code == lang:
                return lang
    return default


def t(key: str, lang: str, /, **values: object) -> str:
    """The text for `key` in `lang`, placeholders filled; falls back to the other language, then to `[key]`."""
    entry = TEXTS.get(key)
    if entry is None:
        log.warning("missing interface text %r", key)
        return f"[{key}]"
    text = entry.get(normalize_lang(lang))
    if text is None:
        text = next(iter(entry.values()))
    if not values:
        return text
    try:
        return text.format(**values)
    except (KeyError, IndexError, ValueError):
        log.warning("interface text %r cannot be filled with %s", key, sorted(values))
        return text


def fmt_number(value: float | None, lang: str, digits: int = 1) -> str:
    """A number as people read it in that language: `2,35` in Vietnamese, `2.35` in English; `—` when unknown."""
    if value is None:
        return "—"
    text = f"{value:,.{digits}f}"
    if normalize_lang(lang) == "vi":
        text = text.replace(",", " ").replace(".", ",").replace(" ", ".")
    return text
