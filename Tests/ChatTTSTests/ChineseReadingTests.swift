import ChatTTS
import Testing

/// The built-in Chinese rules through `Normalizer` (text forced to zh): each table is one kind of expression.
@Suite("Chinese reading of numbers, dates, amounts and punctuation")
struct ChineseReadingTests {
    @Test("integers: 万/亿 groups, one 零 per run of zeros, 十 alone at the start, digit by digit past 16 digits",
          arguments: ReadingCase.table([
              "0": "零", "10": "十", "15": "十五", "20": "二十", "110": "一百一十", "1005": "一千零五",
              "1050": "一千零五十", "10005": "一万零五", "100010": "十万零一十", "150000": "十五万",
              "1000500": "一百万零五百", "100000000": "一亿", "100010001": "一亿零一万零一", "1000000001": "十亿零一",
              "1,000,000": "一百万", "100万": "一百万", "2.5亿": "二点五亿", "1.2万元": "一点二万元",
              "1234567890123456": "一千二百三十四万五千六百七十八亿九千零一十二万三千四百五十六",
              "12345678901234567": "一二三四五六七八九零一二三四五六七", "007": "零零七", "00": "零零",
          ]))
    func integers(_ c: ReadingCase) { c.check(.zh) }

    @Test("两 in the thousands, alone before 万/亿 and before a measure word; 二 elsewhere", arguments: ReadingCase.table([
        "2": "二", "200": "二百", "2000": "两千", "2200": "两千二百", "22000": "两万两千", "2万": "两万",
        "200000000": "两亿", "20000000000": "二百亿", "2个人": "两个人", "2小时": "两小时", "2点": "两点", "2年": "两年",
        "2公斤": "两公斤", "12个": "十二个", "2.5个": "二点五个", "2年级": "二年级", "2月": "二月", "2号": "二号",
        "2楼": "二楼", "第2天": "第二天", "1-2天": "一到两天",
    ]))
    func liang(_ c: ReadingCase) { c.check(.zh) }

    @Test("decimals, signs and operators", arguments: ReadingCase.table([
        "3.14": "三点一四", "0.5": "零点五", ".5": "零点五", "10.05": "十点零五", "-5": "负五", "−3.2": "负三点二",
        "+5": "正五", "气温-5度": "气温负五度", "3 - 5": "三 减 五", "1+1=2": "一加一等于二", "2×3": "二乘三", "6÷2": "六除以二",
    ]))
    func decimalsAndSigns(_ c: ReadingCase) { c.check(.zh) }

    @Test("dates: years digit by digit, months and days as numbers", arguments: ReadingCase.table([
        "2024年3月5日": "二零二四年三月五日", "2024-03-05": "二零二四年三月五日", "2024/3/5": "二零二四年三月五日",
        "2024.03.05": "二零二四年三月五日", "2024-03": "二零二四年三月", "1999年": "一九九九年", "2010年代": "二零一零年代",
        "2020-2024年": "二零二零到二零二四年", "3月5日": "三月五日", "5号": "五号", "二〇二四年": "二零二四年",
        "10年前": "十年前", "1990s": "一九九零年代",
    ]))
    func dates(_ c: ReadingCase) { c.check(.zh) }

    @Test("times", arguments: ReadingCase.table([
        "10:30": "十点三十分", "10:05": "十点零五分", "10:00": "十点", "2:30": "两点三十分", "10:30:15": "十点三十分十五秒",
        "下午3点": "下午三点", "3点半": "三点半", "10am": "上午十点", "3pm": "下午三点", "10:00-12:00": "十点到十二点",
    ]))
    func times(_ c: ReadingCase) { c.check(.zh) }

    @Test("percentages", arguments: ReadingCase.table([
        "3.5%": "百分之三点五", "12.5%": "百分之十二点五", "100%": "百分之一百", "-5%": "负百分之五",
        "10%-20%": "百分之十到二十", "10-20%": "百分之十到二十", "５０％": "百分之五十", "5‰": "千分之五",
    ]))
    func percentages(_ c: ReadingCase) { c.check(.zh) }

    @Test("amounts: 元角分 for the yuan, the number and the currency otherwise", arguments: ReadingCase.table([
        "¥1,280.50": "一千二百八十元五角", "￥0.5": "五角", "¥3.05": "三元零五分", "¥2": "两元", "2.50元": "两元五角",
        "100元": "一百元", "$3.99": "三点九九美元", "$2": "两美元", "€20": "二十欧元", "£5": "五英镑",
        "$100万": "一百万美元", "¥2.5亿": "二点五亿元", "-$5": "负五美元", "$10-20": "十美元到二十美元",
    ]))
    func amounts(_ c: ReadingCase) { c.check(.zh) }

    @Test("units, 零下 below zero", arguments: ReadingCase.table([
        "5kg": "五公斤", "5 kg": "五公斤", "2kg": "两公斤", "3km": "三公里", "25°C": "二十五摄氏度", "25℃": "二十五摄氏度",
        "-5°C": "零下五摄氏度", "+3℃": "零上三摄氏度", "100km/h": "一百公里每小时", "50m²": "五十平方米", "1.5L": "一点五升",
        "30min": "三十分钟", "3-5kg": "三到五公斤", "90°": "九十度", "5GB": "五GB",
    ]))
    func units(_ c: ReadingCase) { c.check(.zh) }

    @Test("ordinals and numbered things", arguments: ReadingCase.table([
        "第3名": "第三名", "第1-3名": "第一到三名", "第10": "第十", "3rd": "第三", "No.1": "第一", "No. 5": "第五", "#1": "第一",
    ]))
    func ordinals(_ c: ReadingCase) { c.check(.zh) }

    @Test("phone numbers digit by digit with 幺, a pause between groups", arguments: ReadingCase.table([
        "13800138000": "幺三八，零零幺三，八零零零", "+86 138 0013 8000": "加八六，幺三八，零零幺三，八零零零",
        "138-0013-8000": "幺三八，零零幺三，八零零零", "138 0013 8000": "幺三八，零零幺三，八零零零",
        "400-820-8820": "四零零，八二零，八八二零", "010-12345678": "零幺零，幺二三四五六七八",
        "电话：13800138000": "电话，幺三八，零零幺三，八零零零",
    ]))
    func phoneNumbers(_ c: ReadingCase) { c.check(.zh) }

    @Test("ranges, ratios, fractions and versions", arguments: ReadingCase.table([
        "3-5": "三到五", "3~5": "三到五", "3～5天": "三到五天", "3:2": "三比二", "16:9": "十六比九", "1/2": "二分之一",
        "3/4": "四分之三", "½": "二分之一", "v2.0": "v二点零", "V1.2.3": "V一点二点三", "1.2.3": "一点二点三",
    ]))
    func rangesAndFractions(_ c: ReadingCase) { c.check(.zh) }

    @Test("punctuation: sentence ends and pauses the model says, quotation marks silent", arguments: ReadingCase.table([
        "你好吗？": "你好吗。", "真的吗?!": "真的吗。", "今天天气很好！": "今天天气很好。", "等等……好的": "等等，好的",
        "好的...": "好的，", "他——来了": "他，来了", "“引号”和‘单引号’": "引号和单引号", "「合作」": "，合作，",
        "《红楼梦》": "，红楼梦，", "注意；安全": "注意，安全", "时间：今天": "时间，今天", "换行\n测试": "换行 测试",
        "迈克尔·乔丹": "迈克尔 乔丹", "他/她": "他 她", "Node.js官网": "Node点js官网", "A&B公司": "A和B公司",
        "全角ＡＢＣ": "全角ABC", "我爱你～": "我爱你",
    ]))
    func punctuation(_ c: ReadingCase) { c.check(.zh) }

    @Test("Chinese with English words and digits", arguments: ReadingCase.table([
        "我买了3个iPhone 15，花了$999": "我买了三个iPhone 十五，花了九百九十九美元", "用Python 3.12写代码": "用Python 三点一二写代码",
        "COVID-19疫情": "COVID 十九疫情", "A4纸2张": "A四纸两张", "5G网络": "五G网络", "MP3格式": "MP三格式",
    ]))
    func mixed(_ c: ReadingCase) { c.check(.zh) }
}
